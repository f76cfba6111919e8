"""A tighter loop over Lark's own LALR tables and contextual lexer, for policy texts that parse.

Lark's `parse` spends most of a large policy's load in its general machinery: a generator per
lexer, a `LineCounter`, two regex calls per token (whitespace is a token of its own), a `Token`
built through two Python calls, and a `feed_token` that looks every action up through the parser
state object. `Driver` runs the same automaton from the same tables: the parse table Lark built
from grammar.lark, each parser state's lexer (its terminals in Lark's order, and the keyword
table that turns a NAME into a keyword where the state takes one), and Lark's own child filters
and callbacks (`create_callback`) for the reductions. Only how the loop runs is changed:

- one regex call per token: the state's terminals in Lark's order, behind an atomic run of the
  ignored whitespace (no terminal of this grammar can start with whitespace, so Lark too reads
  nothing else there), with the end of the text as one more alternative;
- a `Token` object only for the terminals that some rule keeps (names, strings, numbers…); a
  keyword or a bracket, which every rule filters out, is a `None` on the value stack;
- each stack entry's position (first line and column, last line and column) on a stack of its
  own, so a rule's span is read from its first and last entries instead of searched for.

It handles only texts that parse: on a lexical or syntax error it raises `Stop`, and an error
that a reduction raises goes through unchanged; either way the caller parses the text again with
Lark's stock loop, which reports the error exactly as before. tests/test_parser_fast.py holds the
two to the same ASTs, spans and errors.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple

from lark import Lark, Token
from lark.grammar import Terminal
from lark.lexer import BasicLexer, PatternStr, UnlessCallback
from lark.parsers.lalr_analysis import Shift

Position = Optional[Tuple[int, int, int, int]]   # line, column, end line, end column (None: covers no text)
# a reduction: (children on the stack, the callback, the rule's name for the goto, is it a pass-through)
_Reduce = Tuple[int, Callable[[List[Any]], Any], str, bool]
_EOF = "eof"   # the name of the end-of-text alternative; Lark's terminal names are upper case


class Stop(Exception):
    """The text does not lex or parse here: parse it with Lark's stock loop for the error."""


class Driver:
    """Lark's LALR automaton for one `Lark` instance, run by one loop (see the module docstring).

    `callbacks` are Lark's reductions (`_parse_tree_builder.create_callback`); `passes_through`
    the rules whose result is their one child (`?rule: x`), which only change state here; `build`
    gets each rule's span in `build.here` before its callback runs; `after(result)` is called on
    each result that is not passed through (parser.py measures nesting there)."""

    def __init__(self, lark: Lark, callbacks: Dict[Any, Callable[[List[Any]], Any]],
                 passes_through: FrozenSet[Any], build: Any, after: Callable[[Any], Any]) -> None:
        frontend = lark.parser
        table = frontend.parser.parser.parse_table
        self.start_state: int = table.start_states["start"]
        self.end_state: int = table.end_states["start"]
        self.actions: Dict[int, Dict[str, Any]] = {}
        for state, acts in table.states.items():
            row: Dict[str, Any] = {}
            for name, (action, arg) in acts.items():
                if action is Shift:
                    row[name] = arg
                else:
                    row[name] = (len(arg.expansion), callbacks[arg], arg.origin.name, arg in passes_through)
            self.actions[state] = row
        # the terminals some rule keeps as a child; the others (keywords, brackets) are filtered out everywhere
        self.kept = frozenset(sym.name for rule in lark.rules for sym in rule.expansion
                              if isinstance(sym, Terminal) and (rule.options.keep_all_tokens or not sym.filter_out))
        contextual = frontend.lexer
        self._state_lexers: Dict[int, BasicLexer] = contextual.lexers
        self._lexers: Dict[int, Tuple[Callable[..., Any], Optional[str], Dict[str, str]]] = {}
        self._by_lexer: Dict[int, Tuple[Callable[..., Any], Optional[str], Dict[str, str]]] = {}
        self._flags: int = frontend.lexer_conf.g_regex_flags
        self.build = build
        self.after = after

    def _lexer(self, state: int) -> Tuple[Callable[..., Any], Optional[str], Dict[str, str]]:
        """The state's scanner as one compiled `match`, and the terminal whose words may be keywords.

        Built on first use (as Lark builds its scanners), from the very terminals, order and
        keyword tables of Lark's lexer for that state."""
        basic = self._state_lexers[state]
        known = self._by_lexer.get(id(basic))
        if known is None:
            scanner = basic.scanner           # builds Lark's terminals list and keyword callbacks
            if set(basic.ignore_types) != {"WS", "COMMENT"} or set(basic.callback) - {"COMMENT", "NAME"}:
                raise Stop("a lexer this driver was not written for")
            ws = next(t for t in scanner.terminals if t.name == "WS")
            alternatives = [f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanner.terminals if t.name != "WS"]
            alternatives.append(rf"(?P<{_EOF}>\Z)")
            pattern = f"(?>(?:{ws.pattern.to_regexp()})?)(?:{'|'.join(alternatives)})"
            keywords: Dict[str, str] = {}
            keyword_of: Optional[str] = None
            unless = basic.callback.get("NAME")
            if unless is not None:
                if not isinstance(unless, UnlessCallback):
                    raise Stop("a NAME callback this driver was not written for")
                keyword_of = "NAME"
                # the first of Lark's keyword terminals that matches a word wins, as in its fullmatch
                for t in reversed(unless.scanner.terminals):
                    if not isinstance(t.pattern, PatternStr) or t.pattern.flags:
                        raise Stop("a keyword this driver was not written for")
                    keywords[t.pattern.value] = t.name
            known = (re.compile(pattern, self._flags).match, keyword_of, keywords)
            self._by_lexer[id(basic)] = known
        self._lexers[state] = known
        return known

    def parse(self, text: str, comments: List[Token]) -> Any:
        """The value of the `start` rule for `text`, comments appended to `comments`; Stop if it does not parse."""
        lexers, actions, kept, build, after = self._lexers, self.actions, self.kept, self.build, self.after
        end_state = self.end_state
        new_str, token_class = str.__new__, Token
        states: List[int] = [self.start_state]
        values: List[Any] = []
        poss: List[Position] = []
        pos, line, line_start = 0, 1, 0
        while True:
            lexer = lexers.get(states[-1])
            if lexer is None:
                lexer = self._lexer(states[-1])
            m = lexer[0](text, pos)
            if m is None:
                raise Stop("unexpected character")
            ttype = m.lastgroup
            start, end = m.span(ttype)
            if start != pos:
                newlines = text.count("\n", pos, start)
                if newlines:
                    line += newlines
                    line_start = text.rfind("\n", pos, start) + 1
            pos = end
            tok: Any = None
            p: Position = None
            if ttype == _EOF:
                ttype = "$END"
            else:
                value = text[start:end]
                if "\n" in value:
                    raise Stop("a token over more than one line")   # none of this grammar's can be
                column = start - line_start + 1
                end_column = end - line_start + 1
                if ttype == lexer[1]:
                    ttype = lexer[2].get(value, ttype)
                if ttype in kept or ttype == "COMMENT":
                    tok = new_str(token_class, value)
                    tok.type = ttype
                    tok.value = value
                    tok.start_pos = start
                    tok.end_pos = end
                    tok.line = tok.end_line = line
                    tok.column = column
                    tok.end_column = end_column
                    if ttype == "COMMENT":
                        comments.append(tok)
                        continue
                p = (line, column, line, end_column)
            while True:
                act = actions[states[-1]].get(ttype)
                if act is None:
                    raise Stop("unexpected token")
                if act.__class__ is int:
                    if ttype == "$END":
                        raise Stop("shift of the end")
                    states.append(act)
                    values.append(tok)
                    poss.append(p)
                    break
                size, callback, origin, through = act
                if through:        # `?rule: x`: the child is the result, its position stays
                    del states[-1]
                    states.append(actions[states[-1]][origin])
                    continue
                here: Position = None
                if size:
                    children = values[-size:]
                    del values[-size:]
                    del states[-size:]
                    ps = poss[-size:]
                    del poss[-size:]
                    first = ps[0]
                    if first is None:
                        first = next((q for q in ps if q is not None), None)
                    if first is not None:
                        last = ps[-1]
                        if last is None:
                            last = next(q for q in reversed(ps) if q is not None)
                        here = (first[0], first[1], last[2], last[3])
                else:
                    children = []
                build.here = here
                result = callback(children)
                after(result)
                goto = actions[states[-1]][origin]
                states.append(goto)
                values.append(result)
                poss.append(here if result is not None else None)
                if goto == end_state:
                    return result
