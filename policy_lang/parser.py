"""Parse policy text into a `Module` AST; every failure becomes a `PolicyError`.

Longer than 600 lines on purpose: the transformer has one small method per grammar rule, and the checks
of each literal (numbers, durations, strings, regexes) stand beside the rule that reads it, so the
grammar file and this module can be read side by side.
"""
from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path as FsPath
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union, cast

from lark import Lark, Token, Transformer, v_args
from lark.tree import Meta
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast as A
from . import tables
from .errors import Diagnostic, PolicyError, did_you_mean

_local = threading.local()


def _position(tok: Token) -> Tuple[int, int, int, int]:
    """A token's line, column, end line and end column: lark types them optional, but its lexer sets all four."""
    return cast(Tuple[int, int, int, int], (tok.line, tok.column, tok.end_line, tok.end_column))


def _on_comment(tok: Token) -> None:
    sink = getattr(_local, "comments", None)
    if sink is not None:
        sink.append(tok)


_GRAMMAR = FsPath(__file__).with_name("grammar.lark")
_PARSER = Lark.open(str(_GRAMMAR), parser="lalr", propagate_positions=True,
                    lexer_callbacks={"COMMENT": _on_comment}, maybe_placeholders=True)

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


def parse_number(text: str) -> Any:
    """A number literal as written (an int for digits only, else a float); ValueError when no double holds it.

    The digit count is checked before `int()`, which refuses more than 4,300 digits; an integer must
    also convert to a double (numbers compare as doubles, spec §4.7), and a non-zero decimal must
    not round to zero."""
    digits = text.lstrip("-")
    if re.fullmatch(r"[0-9]+", digits):
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


class _Build(Transformer):
    """Parse tree → AST. Spans come from Lark's propagated positions."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file
        self.reserved: List[Diagnostic] = []   # E105, every one found (parse raises them together)

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

    def _span(self, meta: Meta) -> A.Span:
        if getattr(meta, "empty", True):
            return A.NO_SPAN
        return A.Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

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
        return [i for i in items if not isinstance(i, Token)]

    @v_args(meta=True)
    def policy_decl(self, meta: Meta, items: List[Any]) -> A.PolicyDecl:
        return A.PolicyDecl(self._str(items[0]), self._span(meta))

    @v_args(meta=True)
    def version_decl(self, meta: Meta, items: List[Any]) -> A.VersionDecl:
        return A.VersionDecl(self._str(items[0]), self._span(meta))

    @v_args(meta=True)
    def mode_decl(self, meta: Meta, items: List[Any]) -> A.ModeDecl:
        return A.ModeDecl(str(items[0]), self._span(meta))

    tool_mode = mode_decl

    def module_name(self, items: List[Any]) -> str:
        return ".".join(str(i) for i in items)

    @v_args(meta=True)
    def use_decl(self, meta: Meta, items: List[Any]) -> A.Use:
        item = items[0]
        if isinstance(item, Token) and item.type == "STRING":
            return A.Use(path=self._str(item), span=self._span(meta))
        return A.Use(module=item, span=self._span(meta))

    @v_args(meta=True)
    def levels_decl(self, meta: Meta, items: List[Any]) -> A.Levels:
        for tok in items:
            self._name(tok, "risk level")
        return A.Levels(tuple(str(i) for i in items), self._span(meta))

    @v_args(meta=True)
    def unknown_decl(self, meta: Meta, items: List[Any]) -> A.UnknownTools:
        return A.UnknownTools(items[0], self._span(meta))

    # ---- literals for const: (value, canonical text keeping numbers as written)
    @v_args(meta=True)
    def const_decl(self, meta: Meta, items: List[Any]) -> A.Const:
        override, name, (value, text) = items
        self._name(name, "const")
        return A.Const(str(name), value, override is not None, self._span(meta), text)

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
    @v_args(meta=True)
    def route_decl(self, meta: Meta, items: List[Any]) -> A.Route:
        override, name, *body = items
        self._name(name, "route")
        fields: dict = {}
        seen: dict = {}
        for kind, value, span in (b for b in body if not isinstance(b, Token)):
            if kind in seen:
                raise _Fail("E209", f"`{kind}` given twice in route `{name}`", span)
            seen[kind] = span
            fields.update(value)
        return A.Route(name=str(name), override=override is not None, span=self._span(meta),
                       quorum_span=seen.get("quorum", self._span(meta)),
                       item_spans=tuple(seen.items()), **fields)

    @v_args(meta=True)
    def approvers(self, meta: Meta, items: List[Any]) -> _RouteItem:
        return ("approvers", {"approvers": tuple(self._str(i) for i in items)}, self._span(meta))

    @v_args(meta=True)
    def quorum(self, meta: Meta, items: List[Any]) -> _RouteItem:
        return ("quorum", {"quorum": self._small_int(items[0], "quorum")}, self._span(meta))

    @v_args(meta=True)
    def timeout(self, meta: Meta, items: List[Any]) -> _RouteItem:
        target = self._str(items[1]) if items[1] is not None else None
        return ("timeout", {"timeout": self._duration(items[0]), "escalate_to": target}, self._span(meta))

    @v_args(meta=True)
    def grants_never(self, meta: Meta, items: List[Any]) -> _RouteItem:
        return ("grants", {"grants_never": True}, self._span(meta))

    # ---- tools
    def name(self, items: List[Any]) -> Tuple[str, bool]:
        tok = self._name(items[0], "tool")
        return (self._str(tok), True) if tok.type == "STRING" else (str(tok), False)

    @v_args(meta=True)
    def tool_decl(self, meta: Meta, items: List[Any]) -> A.Tool:
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
        return A.Tool(name, schema, tuple(risks), mode, override is not None, self._span(meta), quoted)

    @v_args(meta=True)
    def tool_alias(self, meta: Meta, items: List[Any]) -> A.ToolAlias:
        override, (name, _), (target, _) = items
        return A.ToolAlias(name, target, override is not None, self._span(meta))

    @v_args(meta=True)
    def schema_decl(self, meta: Meta, items: List[Any]) -> A.Schema:
        item = items[0]
        if isinstance(item, Token):
            return A.Schema(file=self._str(item), span=self._span(meta))
        return A.Schema(inline=item, span=self._span(meta))

    @v_args(meta=True)
    def risk_line(self, meta: Meta, items: List[Any]) -> A.RiskLine:
        level, cond = str(self._name(items[0], "risk level")), items[1]
        return A.RiskLine(level, cond[1] if cond else None, bool(cond) and cond[0] == "otherwise",
                          self._span(meta))

    def when(self, items: List[Any]) -> Tuple[str, A.Expr]:
        return ("when", items[0])

    def otherwise(self, items: List[Any]) -> Tuple[str, None]:
        return ("otherwise", None)

    # ---- categories
    @v_args(meta=True)
    def category_decl(self, meta: Meta, items: List[Any]) -> A.Category:
        override, level, *lines = items
        self._name(level, "risk level")
        return A.Category(str(level), tuple(l for l in lines if isinstance(l, A.CategoryLine)),
                          override is not None, self._span(meta))

    @v_args(meta=True)
    def category_line(self, meta: Meta, items: List[Any]) -> A.CategoryLine:
        outcome, cond = items
        return A.CategoryLine(outcome, cond[1] if cond else None, bool(cond) and cond[0] == "otherwise",
                              self._span(meta))

    # ---- checks
    @v_args(meta=True)
    def check_decl(self, meta: Meta, items: List[Any]) -> A.Check:
        override, advisory, name, targets, *lines = items
        self._name(name, "check")
        return A.Check(str(name), targets, tuple(l for l in lines if not isinstance(l, Token)),
                       advisory is not None, override is not None, self._span(meta))

    def targets(self, items: List[Any]) -> Optional[Tuple[str, ...]]:
        if isinstance(items[0], Token) and items[0].type == "STAR":
            return None
        return tuple(n for n, _ in items)

    @v_args(meta=True)
    def require_line(self, meta: Meta, items: List[Any]) -> A.Require:
        return A.Require(items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def budget_line(self, meta: Meta, items: List[Any]) -> A.Budget:
        (agg, summed), *rest = items
        outcome, limit, window = rest[-1], rest[-2], rest[-3]
        keys = tuple(rest[:-3])
        return A.Budget(agg, summed, keys, self._duration(window), limit.value, outcome, self._span(meta),
                        limit.text)

    @v_args(meta=True)
    def aggregate(self, meta: Meta, items: List[Any]) -> Tuple[str, Optional[A.Path]]:
        fn, path = str(items[0]), items[1]
        span = self._span(meta)
        if fn == "sum" and path is None:
            raise _Fail("E216", "`sum` needs a path, as in `sum(args.amount)`", span)
        if fn == "count" and path is not None:
            raise _Fail("E216", "`count` takes no argument: write `count()`", span)
        if fn not in ("sum", "count"):
            raise _Fail("E216", f"unknown budget aggregate `{fn}`", span, "use `sum(PATH)` or `count()`")
        return (fn, path)

    # ---- outcomes
    @v_args(meta=True)
    def allow(self, meta: Meta, items: List[Any]) -> A.Outcome:
        return A.Outcome("allow", span=self._span(meta))

    @v_args(meta=True)
    def require_approval(self, meta: Meta, items: List[Any]) -> A.Outcome:
        route = self._name(items[0], "route") if items[0] is not None else None
        return A.Outcome("require_approval", route=str(route) if route is not None else None,
                         span=self._span(meta))

    @v_args(meta=True)
    def ask(self, meta: Meta, items: List[Any]) -> A.Outcome:
        return A.Outcome("ask", text=self._str(items[0]), span=self._span(meta))

    @v_args(meta=True)
    def escalate(self, meta: Meta, items: List[Any]) -> A.Outcome:
        return A.Outcome("escalate", text=self._str(items[0]), span=self._span(meta))

    @v_args(meta=True)
    def deny(self, meta: Meta, items: List[Any]) -> A.Outcome:
        return A.Outcome("deny", text=self._str(items[0]) if items[0] is not None else None,
                         span=self._span(meta))

    # ---- expressions
    @v_args(meta=True)
    def quantifier(self, meta: Meta, items: List[Any]) -> A.Quantifier:
        self._name(items[1], "variable")
        return A.Quantifier(str(items[0]), str(items[1]), items[2], items[3], self._span(meta))

    @v_args(meta=True)
    def or_(self, meta: Meta, items: List[Any]) -> A.BoolOp:
        return A.BoolOp("or", items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def and_(self, meta: Meta, items: List[Any]) -> A.BoolOp:
        return A.BoolOp("and", items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def not_(self, meta: Meta, items: List[Any]) -> A.Not:
        return A.Not(items[0], self._span(meta))

    @v_args(meta=True)
    def compare(self, meta: Meta, items: List[Any]) -> A.Compare:
        return A.Compare(str(items[1]), items[0], items[2], self._span(meta))

    @v_args(meta=True)
    def in_(self, meta: Meta, items: List[Any]) -> A.Compare:
        return A.Compare("in", items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def not_in(self, meta: Meta, items: List[Any]) -> A.Compare:
        return A.Compare("not in", items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def str_op(self, meta: Meta, items: List[Any]) -> A.Compare:
        return A.Compare(str(items[1]), items[0], items[2], self._span(meta))

    @v_args(meta=True)
    def present(self, meta: Meta, items: List[Any]) -> A.Presence:
        return A.Presence(items[0], True, self._span(meta))

    @v_args(meta=True)
    def missing(self, meta: Meta, items: List[Any]) -> A.Presence:
        return A.Presence(items[0], False, self._span(meta))

    def paren(self, items: List[Any]) -> A.Expr:
        e = items[0]
        if isinstance(e, (A.BoolOp, A.Arith)):
            return dataclasses.replace(e, parens=True)
        return e

    @v_args(meta=True)
    def arith(self, meta: Meta, items: List[Any]) -> A.Arith:
        return A.Arith(str(items[1]), items[0], items[2], self._span(meta))

    @v_args(meta=True)
    def neg(self, meta: Meta, items: List[Any]) -> Union[A.Literal, A.Neg]:
        operand = items[0]
        # `-5` is a literal, so that printing and constant use need no folding pass
        if isinstance(operand, A.Literal) and isinstance(operand.value, (int, float)) \
                and not isinstance(operand.value, bool) and operand.text and not operand.text.startswith("-"):
            return A.Literal(-operand.value, "-" + operand.text, self._span(meta))
        return A.Neg(operand, self._span(meta))

    @v_args(meta=True)
    def call(self, meta: Meta, items: List[Any]) -> A.Call:
        fn, *args = items
        return A.Call(str(fn), tuple(a for a in args if a is not None), self._span(meta))

    @v_args(meta=True)
    def list_expr(self, meta: Meta, items: List[Any]) -> A.ListExpr:
        return A.ListExpr(tuple(i for i in items if i is not None), self._span(meta))

    @v_args(meta=True)
    def literal_atom(self, meta: Meta, items: List[Any]) -> Union[A.Literal, A.Duration]:
        item = items[0]
        span = self._span(meta)
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

    @v_args(meta=True)
    def path(self, meta: Meta, items: List[Any]) -> A.Path:
        root, *rest = items
        if root.type == "NAME":
            self._name(root, "name")
        keys: List[Any] = []
        for k in rest:
            if isinstance(k, Token):
                keys.append(self._str(k) if k.type == "STRING" else self._small_int(k, "list index"))
            else:
                keys.append(k)
        return A.Path(str(root), tuple(keys), self._span(meta))

    def key(self, items: List[Any]) -> str:
        return str(items[0])

    # ---- JSON
    @v_args(meta=True)
    def json_object(self, meta: Meta, items: List[Any]) -> Dict[str, Any]:
        out: dict = {}
        for pair in items:
            if pair is None:
                continue
            k, v, span = pair
            if k in out:
                raise _Fail("E103", f"duplicate key `{k}` in inline JSON", span)
            out[k] = v
        return out

    @v_args(meta=True)
    def json_pair(self, meta: Meta, items: List[Any]) -> Tuple[str, Any, A.Span]:
        return (self._str(items[0]), self._json(items[1]), self._span(meta))

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


def _too_deep(decls: Sequence[A.Decl]) -> Optional[A.Span]:
    """The span of the first declaration whose expressions or JSON nest deeper than MAX_DEPTH."""
    for d in decls:
        stack = [(d, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                return d.span
            if isinstance(node, (list, tuple)):
                stack.extend((x, depth + 1) for x in node)
            elif isinstance(node, dict):
                stack.extend((x, depth + 1) for x in node.values())
            elif dataclasses.is_dataclass(node):
                for f in dataclasses.fields(node):
                    if f.name != "span":
                        stack.append((getattr(node, f.name), depth + 1))
    return None


def parse(text: str, file: str = "<memory>") -> A.Module:
    """Parse one file's text. Raises PolicyError (and nothing else) on bad input."""
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
    _local.comments = comments
    try:
        tree = _PARSER.parse(text)
        build = _Build(file)
        decls = build.transform(tree)
        if build.reserved:
            raise PolicyError(build.reserved, {file: text})
    except UnexpectedInput as e:
        raise PolicyError([_syntax_diag(e, file, text)], {file: text}) from None
    except VisitError as e:
        inner = e.orig_exc
        if isinstance(inner, _Fail):
            raise PolicyError([inner.diag], {file: text}) from None
        if isinstance(inner, RecursionError):
            raise PolicyError([Diagnostic("E104", "policy is nested too deeply", A.Span(file, 1, 1, 1, 1))],
                              {file: text}) from None
        raise
    except RecursionError:
        raise PolicyError([Diagnostic("E104", "policy is nested too deeply", A.Span(file, 1, 1, 1, 1))],
                          {file: text}) from None
    except LarkError:  # any other parser complaint is still a syntax error for the user
        raise PolicyError([Diagnostic("E100", "syntax error", A.Span(file, 1, 1, 1, 1))], {file: text}) from None
    finally:
        _local.comments = None
    deep = _too_deep(decls)
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
    return A.Module(tuple(decls), file, tuple(cs))
