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
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

from lark import Lark, Token
from lark.grammar import Terminal
from lark.lexer import BasicLexer, PatternStr, UnlessCallback
from lark.parse_tree_builder import ChildFilterLALR, ChildFilterLALR_NoPlaceholders, ExpandSingleChild
from lark.parsers.lalr_analysis import Shift

Position = Optional[Tuple[int, int, int, int]]   # line, column, end line, end column (None: covers no text)
_EOF = "eof"   # the name of the end-of-text alternative; Lark's terminal names are upper case


def _filter(to_include: List[Tuple[int, bool, int]], append_none: int) -> Optional[Callable[[List[Any]], List[Any]]]:
    """Lark's child filter for one rule (ChildFilterLALR's steps: placeholders, `_rule` children
    spliced in, filtered tokens left out) as one function, made plain for the common shapes."""
    if not append_none and not any(expand or nones for _, expand, nones in to_include):
        picks = tuple(i for i, _, _ in to_include)
        if len(picks) == 1:
            k = picks[0]
            return lambda children: [children[k]]
        if len(picks) == 2:
            a, b = picks
            return lambda children: [children[a], children[b]]
        return lambda children: [children[i] for i in picks]

    def pick(children: List[Any]) -> List[Any]:
        filtered: List[Any] = []
        for i, expand, nones in to_include:
            if nones:
                filtered += [None] * nones
            if expand:
                filtered += children[i]      # a `_rule`'s value here is its filtered children
            else:
                filtered.append(children[i])
        if append_none:
            filtered += [None] * append_none
        return filtered
    return pick


def _reducers(lark: Lark, callbacks: Dict[Any, Callable[[List[Any]], Any]], build: Any) -> Dict[Any, Tuple[Callable[[List[Any]], Any], bool]]:
    """Each rule's reduction as (function of the rule's children, does it call a method of `build`).

    The same steps as Lark's `create_callback` chain (child filter, single-child expansion, the
    method named after the rule, its alias or template), with one difference: a `_rule` (inlined
    into its parent) is a plain list instead of a `Tree`, which only the parent's filter reads. A
    rule whose chain is not of the shapes below keeps Lark's own callback."""
    out: Dict[Any, Tuple[Callable[[List[Any]], Any], bool]] = {}
    for rule, chain in lark._parse_tree_builder.rule_builders:
        name = rule.alias or rule.options.template_source or rule.origin.name
        method = getattr(build, name, None)
        inline = method is None and name.startswith("_")
        fn: Optional[Callable[[List[Any]], Any]] = None
        if (method is not None or inline) and len(chain) <= 1:
            step = chain[0] if chain else None
            if step is None:
                fn = method if method is not None else list
            elif isinstance(step, partial) and step.func is ChildFilterLALR_NoPlaceholders:
                fn = _filter([(i, x, 0) for i, x in step.args[0]], 0)
            elif isinstance(step, partial) and step.func is ChildFilterLALR:
                fn = _filter(step.args[0], step.args[1])
            if fn is not None and method is not None and step is not None:
                fn = (lambda f, m: lambda children: m(f(children)))(fn, method)
        if fn is None:
            out[rule] = (callbacks[rule], True)
        else:
            out[rule] = (fn, method is not None)
    return out


class Stop(Exception):
    """The text does not lex or parse here: parse it with Lark's stock loop for the error."""


class Driver:
    """Lark's LALR automaton for one `Lark` instance, run by one loop (see the module docstring).

    `callbacks` are Lark's reductions (`_parse_tree_builder.create_callback(build)`), used for any
    rule `_reducers` does not rebuild; `build` gets each rule's span in `build.here` before its
    method runs."""

    def __init__(self, lark: Lark, callbacks: Dict[Any, Callable[[List[Any]], Any]], build: Any) -> None:
        # `?rule: x` with nothing to filter: the child itself is the result, so only the state changes
        through = {rule for rule, chain in lark._parse_tree_builder.rule_builders
                   if rule.options.expand1 and not rule.alias and len(rule.expansion) == 1
                   and chain == [ExpandSingleChild]}
        frontend = lark.parser
        table = frontend.parser.parser.parse_table
        self.start_state: int = table.start_states["start"]
        self.end_state: int = table.end_states["start"]
        reducers = _reducers(lark, callbacks, build)
        self.actions: Dict[int, Dict[str, Any]] = {}
        for state, acts in table.states.items():
            row: Dict[str, Any] = {}
            # plain `str` keys: Lark's names are often its `Token`s, whose Python `__eq__` a lookup would call
            for name, (action, arg) in acts.items():
                if action is Shift:
                    row[str(name)] = arg
                else:
                    fn, calls = reducers[arg]
                    row[str(name)] = (len(arg.expansion), fn, str(arg.origin.name), arg in through, calls)
            self.actions[state] = row
        # the terminals some rule keeps as a child; the others (keywords, brackets) are filtered out everywhere
        self.kept = frozenset(str(sym.name) for rule in lark.rules for sym in rule.expansion
                              if isinstance(sym, Terminal) and (rule.options.keep_all_tokens or not sym.filter_out))
        contextual = frontend.lexer
        self._state_lexers: Dict[int, BasicLexer] = contextual.lexers
        self._lexers: Dict[int, Tuple[Callable[..., Any], Optional[str], Dict[str, str]]] = {}
        self._by_lexer: Dict[int, Tuple[Callable[..., Any], Optional[str], Dict[str, str]]] = {}
        self._flags: int = frontend.lexer_conf.g_regex_flags
        self.build = build

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
                    keywords[t.pattern.value] = str(t.name)
            known = (re.compile(pattern, self._flags).match, keyword_of, keywords)
            self._by_lexer[id(basic)] = known
        self._lexers[state] = known
        return known

    def parse(self, text: str, comments: List[Token]) -> Any:
        """The value of the `start` rule for `text`, comments appended to `comments`; Stop if it does not parse."""
        lexers, actions, kept, build = self._lexers, self.actions, self.kept, self.build
        end_state = self.end_state
        new_str, token_class = str.__new__, Token
        state = self.start_state
        states: List[int] = [state]
        values: List[Any] = []
        poss: List[Position] = []
        pos, line, line_start = 0, 1, 0
        while True:
            lexer = lexers.get(state)
            if lexer is None:
                lexer = self._lexer(state)
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
                act = actions[state].get(ttype)
                if act is None:
                    raise Stop("unexpected token")
                if act.__class__ is int:
                    if ttype == "$END":
                        raise Stop("shift of the end")
                    state = act
                    states.append(state)
                    values.append(tok)
                    poss.append(p)
                    break
                size, callback, origin, through, calls = act
                if through:        # `?rule: x`: the child is the result, its position stays
                    state = actions[states[-2]][origin]
                    states[-1] = state
                    continue
                here: Position
                if size == 1:
                    children = [values.pop()]
                    del states[-1]
                    here = poss.pop()
                elif size:
                    children = values[-size:]
                    del values[-size:]
                    del states[-size:]
                    ps = poss[-size:]
                    del poss[-size:]
                    first = ps[0]
                    if first is None:
                        first = next((q for q in ps if q is not None), None)
                    if first is None:
                        here = None
                    else:
                        last = ps[-1]
                        if last is None:
                            last = next(q for q in reversed(ps) if q is not None)
                        here = (first[0], first[1], last[2], last[3])
                else:
                    children = []
                    here = None
                if calls:
                    build.here = here
                result = callback(children)
                state = actions[states[-1]][origin]
                states.append(state)
                values.append(result)
                poss.append(here if result is not None else None)
                if state == end_state:
                    return result
