"""Parse policy text into a `Module` AST; every failure becomes a `PolicyError`.

Longer than 600 lines on purpose: the transformer has one small method per grammar rule, and the checks
of each literal (numbers, durations, strings, regexes) stand beside the rule that reads it, so the
grammar file and this module can be read side by side.
"""
from __future__ import annotations

import dataclasses
import operator
import re
import threading
from pathlib import Path as FsPath
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union, cast

from lark import Lark, Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast as A
from . import tables
from .errors import Diagnostic, PolicyError, did_you_mean
from .lalr import Driver

_local = threading.local()


def _position(tok: Token) -> Tuple[int, int, int, int]:
    """A token's line, column, end line and end column: lark types them optional, but its lexer sets all four."""
    return cast(Tuple[int, int, int, int], (tok.line, tok.column, tok.end_line, tok.end_column))


def _on_comment(tok: Token) -> None:
    sink = getattr(_local, "comments", None)
    if sink is not None:
        sink.append(tok)


_GRAMMAR = FsPath(__file__).with_name("grammar.lark")
# No `propagate_positions` and no parse tree: the AST is built while the LALR parser reduces (the
# callbacks are installed in `_install` below), and each node's span comes from the tokens it covers.
_PARSER = Lark.open(str(_GRAMMAR), parser="lalr", lexer_callbacks={"COMMENT": _on_comment},
                    maybe_placeholders=True)

# Spec §4.1. Lark's contextual lexer reads a keyword as a NAME wherever the grammar cannot take
# that keyword, so `route allow { … }` would parse: `_Build` turns such a name into E105. Level
# names declared with `levels` are ordinary names, so they follow the same rule (docs/design.md).
# After `.` in a path any word is a key, reserved words included (`args.mode`).
RESERVED = tables.RESERVED
DURATION_UNITS = tables.DURATION_UNITS
MAX_SOURCE = 5_000_000
MAX_DEPTH = 100  # expressions and inline JSON; later stages recurse, so the parser draws the line
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_SURROGATE = re.compile("[\ud800-\udfff]")

# Token names as users know them, for "expected one of" messages.
_TOKEN_WORDS = {
    "LBRACE": "`{`", "RBRACE": "`}`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`",
    "COMMA": "`,`", "COLON": "`:`", "SEMICOLON": "`;`", "DOT": "`.`", "EQUAL": "`=`", "LESSTHAN": "`<`",
    "STRING": "a string", "NAME": "a name", "INT": "an integer", "NUMBER": "a number",
    "DURATION": "a duration", "MODE_NAME": "a mode", "CMP_OP": "a comparison", "STR_OP": "an operator",
    "ADD_OP": "`+` or `-`", "MUL_OP": "`*` or `/`", "MINUS": "`-`", "STAR": "`*`", "QUANT": "`any` or `all`",
    "KEYWORD_KEY": "a key", "JSON_NULL": "`null`", "$END": "end of file", "MORETHANEQUAL": "`>=`",
    "LESSTHANEQUAL": "`<=`",
}


class LoneSurrogate(ValueError):
    """A `\\uXXXX` escape of half a UTF-16 pair with no other half: not a character (no text can hold it)."""

    def __init__(self, escape: str):
        super().__init__(f"`{escape}` is half of a UTF-16 surrogate pair, not a character")
        self.escape = escape


def decode_string(raw: str) -> str:
    """Decode a quoted literal: only \\" \\\\ \\n \\t \\uXXXX are escapes; other backslashes stay.

    As in JSON, a high-surrogate escape followed by a low-surrogate one (`\\uD83D\\uDE00`) is one
    character; a surrogate escape on its own raises LoneSurrogate, since no UTF-8 text can hold it."""
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out: List[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == "\\" and i + 1 < n:
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt]); i += 2; continue
            if nxt == "u" and _HEX4.fullmatch(body[i + 2:i + 6] or ""):
                code = int(body[i + 2:i + 6], 16)
                if 0xD800 <= code <= 0xDBFF and body[i + 6:i + 8] == "\\u" and _HEX4.fullmatch(body[i + 8:i + 12]) \
                        and 0xDC00 <= int(body[i + 8:i + 12], 16) <= 0xDFFF:
                    low = int(body[i + 8:i + 12], 16)
                    out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))); i += 12; continue
                if 0xD800 <= code <= 0xDFFF:
                    raise LoneSurrogate(body[i:i + 6])
                out.append(chr(code)); i += 6; continue
        out.append(c); i += 1
    return "".join(out)


def _escaped(c: str) -> bool:
    """Characters that encode_string writes with a leading backslash."""
    o = ord(c)
    return c in '"\\\n\t' or o < 0x20 or o == 0x7f or 0xd800 <= o <= 0xdfff


def encode_string(value: str) -> str:
    """Quote a string so that `decode_string` gives it back, keeping lone backslashes as written
    (`"^INV-\\d+$"` stays readable) wherever that cannot be mistaken for an escape."""
    out: List[str] = ['"']
    n = len(value)
    for i, c in enumerate(value):
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            nxt = value[i + 1] if i + 1 < n else '"'
            needs = nxt in "nt" or _escaped(nxt) or (nxt == "u" and _HEX4.fullmatch(value[i + 2:i + 6] or ""))
            out.append("\\\\" if needs else "\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif _escaped(c):
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


MAX_INT_DIGITS = 309        # 10**309 is past the largest double: a longer integer is never in range
MAX_INDEX_DIGITS = 18       # a list index or a quorum: below 2**63, as SQLite and every list can hold
MAX_DURATION = 36_500 * 86_400   # 100 years: datetimes, SQLite integers and doubles all hold it exactly
_DIGITS = re.compile(r"[0-9]+")  # compiled once: `re.fullmatch` looks its cache up on every number


def parse_number(text: str) -> Any:
    """A number literal as written (an int for digits only, else a float); ValueError when no double holds it.

    The digit count is checked before `int()`, which refuses more than 4,300 digits; an integer must
    also convert to a double (numbers compare as doubles, spec §4.7), and a non-zero decimal must
    not round to zero."""
    digits = text.lstrip("-")
    if _DIGITS.fullmatch(digits):
        if len(digits.lstrip("0")) > MAX_INT_DIGITS:
            raise ValueError("out of range")
        value: Union[int, float] = int(text)
        float(value)  # OverflowError (a ValueError's cousin) past the largest double
        return value
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("out of range")
    if value == 0 and re.search(r"[1-9]", digits.split("e")[0].split("E")[0]):
        raise ValueError("too small")
    return value


def _shown(text: str, limit: int = 40) -> str:
    """A literal for a message: a long one is cut, with its length, so a diagnostic stays one line."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class _Build:
    """The grammar's reductions → AST, one method per rule, called by the LALR parser as it reduces.

    Two loops call them (lalr.py's for texts that parse, Lark's stock one for the rest); each sets
    `here`, the span of the tokens the rule covered, before the call (`_here`). For Lark's loop,
    `_install` wraps each method to find that span, record the result's for the rules above it and
    keep the first `_Fail` for the end of the parse (so that a syntax error later in the text is
    still the one reported, as when the tree was built first)."""

    def __init__(self) -> None:
        # holds the value itself beside its id, so an id is never read for a value that has gone
        self.pos: Dict[int, Tuple[Any, int, int, int, int]] = {}   # id(result) -> (result, span numbers)
        self.reset("<memory>")

    def reset(self, file: str) -> None:
        """Start a new parse of `file` (and let go of the last one's values)."""
        self.file = file
        self.reserved: List[Diagnostic] = []   # E105, every one found (parse raises them together)
        self.failed: Optional[_Fail] = None     # the first literal or structure error met
        self.deep: Optional[A.Span] = None      # the first declaration nested more than MAX_DEPTH
        self.pos.clear()
        self.here: Optional[Tuple[int, int, int, int]] = None       # the span of the rule being reduced

    def _here(self) -> A.Span:
        """The span of the rule being reduced: from its first token to its last."""
        here = self.here
        return A.NO_SPAN if here is None else A.Span(self.file, *here)

    def _name(self, tok: Any, what: str) -> Any:
        """A NAME token where a declared name (or a reference to one) is expected: never a reserved word."""
        if isinstance(tok, Token) and tok.type in ("NAME", "TOOL") and str(tok) in RESERVED:
            if what == "tool":
                msg = f"`{tok}` is a reserved word and cannot be an unquoted tool name"
                help = f"quote it: `{encode_string(str(tok))}`"
            elif what == "name":
                msg = f"`{tok}` is a reserved word, not a name"
                help = f"a key after `.` may be any word, as in `args.{tok}`"
            else:
                msg = f"`{tok}` is a reserved word and cannot name a {what}"
                help = "choose another name (only tool names can be quoted)"
            self.reserved.append(Diagnostic("E105", msg, self._tspan(tok), help=help))
        return tok

    def _tspan(self, tok: Token) -> A.Span:
        return A.Span(self.file, *_position(tok))

    def _number(self, tok: Token, negative: bool = False) -> Any:
        try:
            return parse_number(("-" if negative else "") + str(tok))
        except (ValueError, OverflowError) as exc:
            if str(exc) == "too small":
                raise _Fail("E102", f"number `{_shown(str(tok))}` is too small for a double: it would be 0",
                            self._tspan(tok)) from None
            raise _Fail("E102", f"number `{_shown(str(tok))}` is out of range", self._tspan(tok),
                        help="numbers are doubles: about 1.8e308 at most") from None

    def _small_int(self, tok: Token, what: str) -> int:
        """An INT token that counts something (a quorum, a list index): at most 18 digits."""
        text = str(tok)
        if len(text.lstrip("0")) > MAX_INDEX_DIGITS:
            raise _Fail("E102", f"{what} `{_shown(text)}` is out of range", self._tspan(tok))
        return int(text)

    def _duration(self, tok: Token) -> A.Duration:
        text = str(tok)
        digits = text[:-1].lstrip("0")
        if len(digits) > 12 or int(text[:-1]) * DURATION_UNITS[text[-1]] > MAX_DURATION:
            raise _Fail("E102", f"duration `{_shown(text)}` is longer than 100 years", self._tspan(tok),
                        help="the longest duration is `36500d`")
        return A.Duration(int(text[:-1]) * DURATION_UNITS[text[-1]], text, self._tspan(tok))

    def _str(self, tok: Token) -> str:
        """A STRING token decoded (decode_string), a lone surrogate escape reported at the string."""
        try:
            return decode_string(tok)
        except LoneSurrogate as exc:
            raise _Fail("E101", f"invalid escape: {exc}", self._tspan(tok),
                        help="write the character itself, or both halves of the pair, as in `\\uD83D\\uDE00`") from None

    # ---- top level
    def start(self, items: List[Any]) -> List[A.Decl]:
        decls = [i for i in items if not isinstance(i, Token)]
        for d in decls:
            if self.deep is None and _deeper(d, MAX_DEPTH):
                self.deep = d.span
        return decls

    def policy_decl(self, items: List[Any]) -> A.PolicyDecl:
        return A.PolicyDecl(self._str(items[0]), self._here())

    def version_decl(self, items: List[Any]) -> A.VersionDecl:
        return A.VersionDecl(self._str(items[0]), self._here())

    def mode_decl(self, items: List[Any]) -> A.ModeDecl:
        return A.ModeDecl(str(items[0]), self._here())

    tool_mode = mode_decl

    def module_name(self, items: List[Any]) -> str:
        return ".".join(str(i) for i in items)

    def use_decl(self, items: List[Any]) -> A.Use:
        item = items[0]
        if isinstance(item, Token) and item.type == "STRING":
            return A.Use(path=self._str(item), span=self._here())
        return A.Use(module=item, span=self._here())

    def levels_decl(self, items: List[Any]) -> A.Levels:
        for tok in items:
            self._name(tok, "risk level")
        return A.Levels(tuple(str(i) for i in items), self._here())

    def unknown_decl(self, items: List[Any]) -> A.UnknownTools:
        return A.UnknownTools(items[0], self._here())

    # ---- literals for const: (value, canonical text keeping numbers as written)
    def const_decl(self, items: List[Any]) -> A.Const:
        override, name, (value, text) = items
        self._name(name, "const")
        return A.Const(str(name), value, override is not None, self._here(), text)

    def literal(self, items: List[Any]) -> Tuple[Any, str]:
        item = items[0]
        if isinstance(item, _Num):
            return (item.value, item.text)
        if isinstance(item, Token):
            if item.type == "STRING":
                value = self._str(item)
                return (value, encode_string(value))
            if item.type == "TRUE":
                return (True, "true")
            if item.type == "FALSE":
                return (False, "false")
            if item.type == "DURATION":
                d = self._duration(item)
                return (d, d.text)
        return item

    def neg_lit(self, items: List[Any]) -> Tuple[Any, str]:
        return (-items[0].value, "-" + items[0].text)

    def list_lit(self, items: List[Any]) -> Tuple[Tuple[Any, ...], str]:
        items = [i for i in items if i is not None]
        return (tuple(v for v, _ in items), "[" + ", ".join(t for _, t in items) + "]")

    def number_lit(self, items: List[Any]) -> _Num:
        return _Num(self._number(items[0]), str(items[0]))

    # ---- routes
    def route_decl(self, items: List[Any]) -> A.Route:
        override, name, *body = items
        self._name(name, "route")
        fields: dict = {}
        seen: dict = {}
        for kind, value, span in (b for b in body if not isinstance(b, Token)):
            if kind in seen:
                raise _Fail("E209", f"`{kind}` given twice in route `{name}`", span)
            seen[kind] = span
            fields.update(value)
        return A.Route(name=str(name), override=override is not None, span=self._here(),
                       quorum_span=seen.get("quorum", self._here()),
                       item_spans=tuple(seen.items()), **fields)

    def approvers(self, items: List[Any]) -> _RouteItem:
        return ("approvers", {"approvers": tuple(self._str(i) for i in items)}, self._here())

    def quorum(self, items: List[Any]) -> _RouteItem:
        return ("quorum", {"quorum": self._small_int(items[0], "quorum")}, self._here())

    def timeout(self, items: List[Any]) -> _RouteItem:
        target = self._str(items[1]) if items[1] is not None else None
        return ("timeout", {"timeout": self._duration(items[0]), "escalate_to": target}, self._here())

    def grants_never(self, items: List[Any]) -> _RouteItem:
        return ("grants", {"grants_never": True}, self._here())

    # ---- tools
    def name(self, items: List[Any]) -> Tuple[str, bool]:
        tok = self._name(items[0], "tool")
        return (self._str(tok), True) if tok.type == "STRING" else (str(tok), False)

    def tool_decl(self, items: List[Any]) -> A.Tool:
        override, (name, quoted), *body = items
        schema: Optional[A.Schema] = None
        risks: List[A.RiskLine] = []
        mode: Optional[A.ModeDecl] = None
        for b in body:
            if isinstance(b, A.Schema):
                if schema is not None:
                    raise _Fail("E209", f"`schema` given twice in tool `{name}`", b.span)
                schema = b
            elif isinstance(b, A.RiskLine):
                risks.append(b)
            elif isinstance(b, A.ModeDecl):
                if mode is not None:
                    raise _Fail("E209", f"`mode` given twice in tool `{name}`", b.span)
                mode = b
        return A.Tool(name, schema, tuple(risks), mode, override is not None, self._here(), quoted)

    def tool_alias(self, items: List[Any]) -> A.ToolAlias:
        override, (name, _), (target, _) = items
        return A.ToolAlias(name, target, override is not None, self._here())

    def schema_decl(self, items: List[Any]) -> A.Schema:
        item = items[0]
        if isinstance(item, Token):
            return A.Schema(file=self._str(item), span=self._here())
        return A.Schema(inline=item, span=self._here())

    def risk_line(self, items: List[Any]) -> A.RiskLine:
        level, cond = str(self._name(items[0], "risk level")), items[1]
        return A.RiskLine(level, cond[1] if cond else None, bool(cond) and cond[0] == "otherwise",
                          self._here())

    def when(self, items: List[Any]) -> Tuple[str, A.Expr]:
        return ("when", items[0])

    def otherwise(self, items: List[Any]) -> Tuple[str, None]:
        return ("otherwise", None)

    # ---- categories
    def category_decl(self, items: List[Any]) -> A.Category:
        override, level, *lines = items
        self._name(level, "risk level")
        return A.Category(str(level), tuple(l for l in lines if isinstance(l, A.CategoryLine)),
                          override is not None, self._here())

    def category_line(self, items: List[Any]) -> A.CategoryLine:
        outcome, cond = items
        return A.CategoryLine(outcome, cond[1] if cond else None, bool(cond) and cond[0] == "otherwise",
                              self._here())

    # ---- checks
    def check_decl(self, items: List[Any]) -> A.Check:
        override, advisory, name, targets, *lines = items
        self._name(name, "check")
        return A.Check(str(name), targets, tuple(l for l in lines if not isinstance(l, Token)),
                       advisory is not None, override is not None, self._here())

    def targets(self, items: List[Any]) -> Optional[Tuple[str, ...]]:
        if isinstance(items[0], Token) and items[0].type == "STAR":
            return None
        return tuple(n for n, _ in items)

    def require_line(self, items: List[Any]) -> A.Require:
        return A.Require(items[0], items[1], self._here())

    def budget_line(self, items: List[Any]) -> A.Budget:
        (agg, summed), *rest = items
        outcome, limit, window = rest[-1], rest[-2], rest[-3]
        keys = tuple(rest[:-3])
        return A.Budget(agg, summed, keys, self._duration(window), limit.value, outcome, self._here(),
                        limit.text)

    def aggregate(self, items: List[Any]) -> Tuple[str, Optional[A.Path]]:
        fn, path = str(items[0]), items[1]
        span = self._here()
        if fn == "sum" and path is None:
            raise _Fail("E216", "`sum` needs a path, as in `sum(args.amount)`", span)
        if fn == "count" and path is not None:
            raise _Fail("E216", "`count` takes no argument: write `count()`", span)
        if fn not in ("sum", "count"):
            raise _Fail("E216", f"unknown budget aggregate `{fn}`", span, "use `sum(PATH)` or `count()`")
        return (fn, path)

    # ---- outcomes
    def allow(self, items: List[Any]) -> A.Outcome:
        return A.Outcome("allow", span=self._here())

    def require_approval(self, items: List[Any]) -> A.Outcome:
        route = self._name(items[0], "route") if items[0] is not None else None
        return A.Outcome("require_approval", route=str(route) if route is not None else None,
                         span=self._here())

    def ask(self, items: List[Any]) -> A.Outcome:
        return A.Outcome("ask", text=self._str(items[0]), span=self._here())

    def escalate(self, items: List[Any]) -> A.Outcome:
        return A.Outcome("escalate", text=self._str(items[0]), span=self._here())

    def deny(self, items: List[Any]) -> A.Outcome:
        return A.Outcome("deny", text=self._str(items[0]) if items[0] is not None else None,
                         span=self._here())

    # ---- expressions
    def quantifier(self, items: List[Any]) -> A.Quantifier:
        self._name(items[1], "variable")
        return A.Quantifier(str(items[0]), str(items[1]), items[2], items[3], self._here())

    def or_(self, items: List[Any]) -> A.BoolOp:
        return A.BoolOp("or", items[0], items[1], self._here())

    def and_(self, items: List[Any]) -> A.BoolOp:
        return A.BoolOp("and", items[0], items[1], self._here())

    def not_(self, items: List[Any]) -> A.Not:
        return A.Not(items[0], self._here())

    def compare(self, items: List[Any]) -> A.Compare:
        return A.Compare(str(items[1]), items[0], items[2], self._here())

    def in_(self, items: List[Any]) -> A.Compare:
        return A.Compare("in", items[0], items[1], self._here())

    def not_in(self, items: List[Any]) -> A.Compare:
        return A.Compare("not in", items[0], items[1], self._here())

    def str_op(self, items: List[Any]) -> A.Compare:
        return A.Compare(str(items[1]), items[0], items[2], self._here())

    def present(self, items: List[Any]) -> A.Presence:
        return A.Presence(items[0], True, self._here())

    def missing(self, items: List[Any]) -> A.Presence:
        return A.Presence(items[0], False, self._here())

    def paren(self, items: List[Any]) -> A.Expr:
        e = items[0]
        if isinstance(e, (A.BoolOp, A.Arith)):
            return dataclasses.replace(e, parens=True)
        return e

    def arith(self, items: List[Any]) -> A.Arith:
        return A.Arith(str(items[1]), items[0], items[2], self._here())

    def neg(self, items: List[Any]) -> Union[A.Literal, A.Neg]:
        operand = items[0]
        # `-5` is a literal, so that printing and constant use need no folding pass
        if isinstance(operand, A.Literal) and isinstance(operand.value, (int, float)) \
                and not isinstance(operand.value, bool) and operand.text and not operand.text.startswith("-"):
            return A.Literal(-operand.value, "-" + operand.text, self._here())
        return A.Neg(operand, self._here())

    def call(self, items: List[Any]) -> A.Call:
        fn, *args = items
        return A.Call(str(fn), tuple(a for a in args if a is not None), self._here())

    def list_expr(self, items: List[Any]) -> A.ListExpr:
        return A.ListExpr(tuple(i for i in items if i is not None), self._here())

    def literal_atom(self, items: List[Any]) -> Union[A.Literal, A.Duration]:
        item = items[0]
        span = self._here()
        if isinstance(item, Token):
            if item.type == "STRING":
                return A.Literal(self._str(item), span=span)
            if item.type == "TRUE":
                return A.Literal(True, span=span)
            if item.type == "FALSE":
                return A.Literal(False, span=span)
            if item.type == "DURATION":
                d = self._duration(item)
                return A.Duration(d.seconds, d.text, span)
        return A.Literal(item.value, item.text, span)

    def path(self, items: List[Any]) -> A.Path:
        root, *rest = items
        if root.type == "NAME":
            self._name(root, "name")
        keys: List[Any] = []
        for k in rest:
            if isinstance(k, Token):
                keys.append(self._str(k) if k.type == "STRING" else self._small_int(k, "list index"))
            else:
                keys.append(k)
        return A.Path(str(root), tuple(keys), self._here())

    def key(self, items: List[Any]) -> str:
        return str(items[0])

    # ---- JSON
    def json_object(self, items: List[Any]) -> Dict[str, Any]:
        out: dict = {}
        for pair in items:
            if pair is None:
                continue
            k, v, span = pair
            if k in out:
                raise _Fail("E103", f"duplicate key `{k}` in inline JSON", span)
            out[k] = v
        return out

    def json_pair(self, items: List[Any]) -> Tuple[str, Any, A.Span]:
        return (self._str(items[0]), self._json(items[1]), self._here())

    def json_array(self, items: List[Any]) -> List[Any]:
        return [self._json(i) for i in items if i is not None]

    def json_number(self, items: List[Any]) -> Union[int, float]:
        neg = len(items) == 2
        return self._number(items[-1], neg)

    def _json(self, v: Any) -> Any:
        if isinstance(v, Token):
            if v.type == "STRING":
                return self._str(v)
            return {"TRUE": True, "FALSE": False, "JSON_NULL": None}[v.type]
        return v


_RouteItem = Tuple[str, Dict[str, Any], A.Span]   # (item name, the Route fields it sets, where it was written)


class _Num(NamedTuple):
    value: Any
    text: str


class _Fail(Exception):
    def __init__(self, code: str, message: str, span: A.Span, help: str | None = None):
        super().__init__(message)
        self.diag = Diagnostic(code, message, span, help=help)


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    return f"`{tok}`"


def _expected(names: Iterable[str]) -> str:
    words = sorted({_TOKEN_WORDS.get(n, f"`{n.lower()}`") for n in names if n})
    if len(words) > 8:
        words = words[:8] + ["…"]
    return ", ".join(words)


def _syntax_diag(err: UnexpectedInput, file: str, text: str) -> Diagnostic:
    line = getattr(err, "line", 1) or 1
    col = getattr(err, "column", 1) or 1
    if isinstance(err, UnexpectedCharacters):
        pos = len(text) if err.pos_in_stream is None else err.pos_in_stream  # lark sets it for this error
        ch = text[pos] if pos < len(text) else ""
        if ch == '"':
            msg = "unterminated string"
        else:
            msg = f"unexpected character `{ch}`" if ch.strip() else "unexpected character"
        return Diagnostic("E101", msg, A.Span(file, line, col, line, col + 1))
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        exp = _expected(getattr(err, "expected", None) or getattr(err, "accepts", None) or [])
        return Diagnostic("E100", "unexpected end of file" + (f", expected {exp}" if exp else ""),
                          A.Span(file, line, col, line, col + 1))
    unexpected = cast(UnexpectedToken, err)  # the third of the errors lark's LALR parser raises
    tok = unexpected.token
    names: Iterable[str] = unexpected.accepts or unexpected.expected or []
    exp = _expected(names)
    help = None
    end_col = (tok.end_column or col + 1) if tok.end_line == line else col + 1
    if tok.type == "QUANT" or str(tok) in ("any", "all"):
        help = "inside a larger expression a quantifier is written in parentheses"
    elif "DURATION" in names and tok.type in ("INT", "NUMBER"):
        return _duration_diag(tok, file, text, line, col, exp)
    elif tok.type == "NAME":
        # a misspelt keyword (`alow` for `allow`): the keywords the grammar would take here
        help = did_you_mean(str(tok), [n.lower() for n in names if n not in _TOKEN_WORDS and n.isalpha()])
    return Diagnostic("E100", f"unexpected {_describe(tok)}" + (f", expected {exp}" if exp else ""),
                      A.Span(file, line, col, line, end_col), help=help)


_UNIT_WORDS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _units() -> str:
    """The duration units as a help names them: `s` (seconds), `m` (minutes) and so on."""
    return ", ".join(f"`{u}` ({_UNIT_WORDS.get(u, u)})" for u in DURATION_UNITS)


def _duration_diag(tok: Token, file: str, text: str, line: int, col: int, exp: str) -> Diagnostic:
    """A number where a duration belongs: an unknown unit (`5y`), a unit apart (`5 d`) or none (`5`)."""
    start = tok.end_pos if tok.end_pos is not None else (tok.start_pos or 0) + len(str(tok))
    unit = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[start:start + 41])
    apart = re.match(r"[ \t]+([A-Za-z]+)", text[start:start + 41])
    example = "`30m`"
    if unit is not None and tok.type == "NUMBER" and unit.group() in DURATION_UNITS:
        written = str(tok) + unit.group()
        return Diagnostic("E100", f"duration `{_shown(written)}` is not a whole number",
                          A.Span(file, line, col, line, col + len(written)),
                          help=f"a duration is a whole number and a unit, one of {_units()}, as in {example}")
    if unit is not None:
        shown = unit.group()
        return Diagnostic("E100", f"unknown duration unit `{_shown(shown)}` in `{_shown(str(tok) + shown)}`",
                          A.Span(file, line, col, line, col + len(str(tok)) + len(shown)),
                          help=f"units are {_units()}, as in {example}")
    if apart is not None and apart.group(1) in DURATION_UNITS and tok.type == "INT":
        return Diagnostic("E100", f"unexpected {_describe(tok)}, expected {exp}",
                          A.Span(file, line, col, line, col + len(str(tok))),
                          help=f"write the unit right after the number, as in `{tok}{apart.group(1)}`")
    return Diagnostic("E100", f"unexpected {_describe(tok)}, expected {exp}",
                      A.Span(file, line, col, line, col + len(str(tok))),
                      help=f"a duration is a whole number and a unit, one of {_units()}, as in {example}")


def _one_field(name: str) -> Callable[[Any], Tuple[Any, ...]]:
    """A getter of one field as a 1-tuple (`attrgetter` of one name gives the bare value)."""
    def get(obj: Any) -> Tuple[Any, ...]:
        return (getattr(obj, name),)
    return get


def _node_fields() -> Dict[type, Callable[[Any], Tuple[Any, ...]]]:
    """Each AST class's fields but `span`, as a getter of a tuple (what the nesting height walks)."""
    out: Dict[type, Callable[[Any], Tuple[Any, ...]]] = {}
    for value in vars(A).values():
        if isinstance(value, type) and dataclasses.is_dataclass(value):
            names = [f.name for f in dataclasses.fields(value) if f.name != "span"]
            if len(names) == 1:
                out[value] = _one_field(names[0])
            elif names:
                out[value] = operator.attrgetter(*names)
    return out


_FIELDS = _node_fields()
_LEAVES = frozenset({str, int, float, bool, type(None), Token})


def _deeper(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` levels: a field, item or JSON value more than `limit`
    steps down from it (a leaf is 0 deep; a node, tuple, list or dict one more than its deepest part).

    A walk with a stack of its own, so no nesting makes it recurse, and it stops at the first part
    past `limit`, so a deep value costs no more than `limit` steps down."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        t = type(v)
        if t is tuple or t is list:
            items: Iterable[Any] = v
        elif t is dict:
            items = v.values()
        else:
            get = _FIELDS.get(t)
            if get is None:
                continue
            items = get(v)
        depth += 1
        for item in items:
            if depth > limit:
                return True
            if type(item) not in _LEAVES:
                stack.append((item, depth))
    return False


def _install(build: _Build) -> None:
    """Make `build`'s methods the LALR parser's reductions, each wrapped to know its rule's span.

    Lark's tree builder (with no position tracking) still filters each rule's children, inlines
    `_rules`, collapses `?rules` and adds placeholders; the wrapper outside it sees the rule's raw
    children, tokens included, so the span runs from the first token to the last as with
    `propagate_positions` (a child that is a reduced value contributes the span recorded for it)."""
    pos = build.pos
    callbacks = _PARSER._parse_tree_builder.create_callback(build)

    def wrap(inner: Callable[[List[Any]], Any]) -> Callable[[List[Any]], Any]:
        def reduce(children: List[Any]) -> Any:
            if build.failed is not None:
                return None        # the parse goes on only to find a syntax error further on
            here: Any = None       # lark types a token's position optional; its lexer sets them all
            line: Any
            for c in children:
                if type(c) is Token:
                    line, column = c.line, c.column
                    break
                e = pos.get(id(c))
                if e is not None and e[0] is c:
                    line, column = e[1], e[2]
                    break
            else:
                line = None
            if line is not None:
                for c in reversed(children):
                    if type(c) is Token:
                        here = (line, column, c.end_line, c.end_column)
                        break
                    e = pos.get(id(c))
                    if e is not None and e[0] is c:
                        here = (line, column, e[3], e[4])
                        break
            build.here = here
            try:
                result = inner(children)
            except _Fail as exc:
                build.failed = exc
                return None
            if here is not None and result is not None:
                pos[id(result)] = (result, *here)
            return result
        return reduce

    def passes_through(rule: Any) -> bool:
        # `?sum: product`: the child itself is the result, span and height already recorded
        return bool(rule.options.expand1) and not rule.alias and len(rule.expansion) == 1
    _PARSER.parser.parser.parser.callbacks = {rule: cb if passes_through(rule) else wrap(cb)
                                              for rule, cb in callbacks.items()}


def _driver(build: _Build) -> Driver:
    """The fast loop over the same tables, with Lark's reductions unwrapped: it keeps spans itself."""
    return Driver(_PARSER, _PARSER._parse_tree_builder.create_callback(build), build)


_BUILD = _Build()
_install(_BUILD)
_DRIVER = _driver(_BUILD)
_LOCK = threading.Lock()   # one parse at a time: the reductions write to _BUILD


def parse(text: str, file: str = "<memory>") -> A.Module:
    """Parse one file's text. Raises PolicyError (and nothing else) on bad input."""
    return _parse(text, file, None)


def _parse(text: str, file: str, fast: Optional[bool]) -> A.Module:
    """`parse` by the fast loop where it can and Lark's stock loop where not (`fast` None, as `parse`
    does), or by one of the two alone (True: the fast loop, raising Stop where it cannot; False: the
    stock loop), for tests/test_parser_fast.py to compare them."""
    if not isinstance(text, str):
        raise TypeError("policy text must be a str")
    if len(text) > MAX_SOURCE:
        raise PolicyError([Diagnostic("E102", "policy file is larger than 5 MB", A.Span(file, 1, 1, 1, 1))])
    lone = _SURROGATE.search(text)  # only a str built in Python can hold one; a file read as UTF-8 cannot
    if lone is not None:
        line = text.count("\n", 0, lone.start()) + 1
        col = lone.start() - (text.rfind("\n", 0, lone.start()) + 1) + 1
        raise PolicyError([Diagnostic("E101", f"invalid character `\\u{ord(lone.group()):04x}`: a lone surrogate is not text",
                                      A.Span(file, line, col, line, col + 1))])  # no snippet: it would hold it
    comments: List[Token] = []
    with _LOCK:
        _BUILD.reset(file)
        try:
            decls = None
            if fast is not False:
                try:
                    decls = _DRIVER.parse(text, comments)
                except Exception:  # Stop or a reduction's error: the stock loop says which, as before
                    if fast:
                        raise
            if decls is None:
                comments.clear()
                _BUILD.reset(file)
                _local.comments = comments
                decls = _PARSER.parse(text)
            failed, reserved, deep = _BUILD.failed, _BUILD.reserved, _BUILD.deep
        except UnexpectedInput as e:
            raise PolicyError([_syntax_diag(e, file, text)], {file: text}) from None
        except RecursionError:
            raise PolicyError([Diagnostic("E104", "policy is nested too deeply", A.Span(file, 1, 1, 1, 1))],
                              {file: text}) from None
        except LarkError:  # any other parser complaint is still a syntax error for the user
            raise PolicyError([Diagnostic("E100", "syntax error", A.Span(file, 1, 1, 1, 1))], {file: text}) from None
        finally:
            _local.comments = None
            _BUILD.reset("<memory>")
    # the order the tree-building parser had: syntax errors first, then the first literal error,
    # then every reserved name, then nesting
    if failed is not None:
        raise PolicyError([failed.diag], {file: text})
    if reserved:
        raise PolicyError(reserved, {file: text})
    if deep is not None:
        raise PolicyError([Diagnostic("E104", f"nested more than {MAX_DEPTH} levels deep", deep,
                                      help="split the condition, or name parts of it with `const`")],
                          {file: text})
    line_starts = text.splitlines()
    cs = []
    for c in comments:
        line, column = _position(c)[:2]
        before = line_starts[line - 1][:column - 1] if line - 1 < len(line_starts) else ""
        cs.append(A.Comment(str(c).rstrip(), line, column, before.strip() == ""))
    return A.Module(tuple(cast(List[A.Decl], decls)), file, tuple(cs))
