"""Print an AST as canonical policy text: the formatter, and the printer of generated policies."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union, cast

from . import ast as A
from .parser import RESERVED, encode_string

INDENT = "  "
MAX_WIDTH = 100   # a condition line longer than this is broken (see condition_lines)

# precedence, loosest first
P_QUANT, P_OR, P_AND, P_NOT, P_CMP, P_ADD, P_MUL, P_NEG, P_ATOM = range(9)

Render = Callable[[str, A.Span], None]   # prints one statement at an indent, given the span it came from
Item = Tuple[A.Span, Render]


def is_plain_name(name: str) -> bool:
    """Whether a name can be written bare (an ASCII identifier that is not a reserved word)."""
    return name.isidentifier() and name.isascii() and name not in RESERVED


def name_text(name: str) -> str:
    """A name as the policy writes it: bare when plain, else as a quoted string."""
    return name if is_plain_name(name) else encode_string(name)


def number_text(value: Any, text: Optional[str] = None) -> str:
    """A number as written in the source when known, else as Python prints it (`repr` for a float)."""
    if text is not None:
        return text
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def literal_text(value: Any) -> str:
    """A const's or literal's value as policy text: booleans, quoted strings, numbers, durations, lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return encode_string(value)
    if isinstance(value, (int, float)):
        return number_text(value)
    if isinstance(value, A.Duration):
        return value.text
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(literal_text(v) for v in value) + "]"
    raise TypeError(f"cannot print literal {value!r}")


def path_text(p: A.Path) -> str:
    """A path as policy text: `.key` for plain keys, `["key"]` for others, `[i]` for list indexes."""
    out = p.root
    for k in p.keys:
        if isinstance(k, int):
            out += f"[{k}]"
        elif k.isidentifier() and k.isascii():
            out += "." + k
        else:
            out += "[" + encode_string(k) + "]"
    return out


def _prec(e: A.Expr) -> int:
    if isinstance(e, A.Quantifier):
        return P_QUANT
    if isinstance(e, A.BoolOp):
        return P_OR if e.op == "or" else P_AND
    if isinstance(e, A.Not):
        return P_NOT
    if isinstance(e, (A.Compare, A.Presence)):
        return P_CMP
    if isinstance(e, A.Arith):
        return P_ADD if e.op in "+-" else P_MUL
    if isinstance(e, A.Neg):
        return P_NEG
    return P_ATOM


def expr_text(e: A.Expr, min_prec: int = P_QUANT) -> str:
    """An expression as canonical policy text, in parentheses when looser than `min_prec` or written so."""
    s = _expr(e)
    return f"({s})" if _prec(e) < min_prec or getattr(e, "parens", False) else s


def condition_lines(indent: str, head: str, cond: A.Expr, tail: str = "") -> str:
    """`head COND tail` on one line when it fits in MAX_WIDTH columns. Otherwise, as the spec lays out
    its own long lines: `else …` moves to a continuation line, and a condition still too long breaks
    before each `and`/`or` of its outermost chain. Continuation lines are indented one step more."""
    one = head + expr_text(cond) + tail
    if len(indent) + len(one) <= MAX_WIDTH:
        return one
    more = indent + INDENT
    first = head + expr_text(cond)
    if len(indent) + len(first) <= MAX_WIDTH or not isinstance(cond, A.BoolOp) or cond.parens:
        return first + ("\n" + more + tail.lstrip() if tail else "")
    op = cond.op
    parts: List[A.Expr] = []
    e: A.Expr = cond
    while isinstance(e, A.BoolOp) and e.op == op and not e.parens:
        parts.append(e.right)
        e = e.left
    parts.append(e)
    parts.reverse()
    p = P_OR if op == "or" else P_AND
    lines = [head + expr_text(parts[0], p)] + [f"{more}{op} {expr_text(x, p + 1)}" for x in parts[1:]]
    if tail:
        if len(lines[-1]) + len(tail) <= MAX_WIDTH:
            lines[-1] += tail
        else:
            lines.append(more + tail.lstrip())
    return "\n".join(lines)


def _expr(e: A.Expr) -> str:
    if isinstance(e, A.Literal):
        if isinstance(e.value, (int, float)) and not isinstance(e.value, bool):
            return number_text(e.value, e.text)
        return literal_text(e.value)
    if isinstance(e, A.Duration):
        return e.text
    if isinstance(e, A.Path):
        return path_text(e)
    if isinstance(e, A.ListExpr):
        return "[" + ", ".join(expr_text(i) for i in e.items) + "]"
    if isinstance(e, A.Call):
        return e.fn + "(" + ", ".join(expr_text(a) for a in e.args) + ")"
    if isinstance(e, A.Neg):
        return "-" + expr_text(e.operand, P_NEG)
    if isinstance(e, A.Not):
        return "not " + expr_text(e.operand, P_NOT)
    if isinstance(e, A.BoolOp):
        p = P_OR if e.op == "or" else P_AND
        return f"{expr_text(e.left, p)} {e.op} {expr_text(e.right, p + 1)}"
    if isinstance(e, A.Arith):
        p = P_ADD if e.op in "+-" else P_MUL
        return f"{expr_text(e.left, p)} {e.op} {expr_text(e.right, p + 1)}"
    if isinstance(e, A.Compare):
        return f"{expr_text(e.left, P_ADD)} {e.op} {expr_text(e.right, P_ADD)}"
    if isinstance(e, A.Presence):
        return f"{expr_text(e.path, P_ADD)} {'present' if e.present else 'missing'}"
    if isinstance(e, A.Quantifier):
        return f"{e.kind} {e.var} in {expr_text(e.source, P_ADD)}: {expr_text(e.body)}"
    raise TypeError(f"cannot print expression {e!r}")


def outcome_text(o: A.Outcome) -> str:
    """An outcome as policy text, such as `require approval via ops` or `deny "reason"`."""
    if o.kind == "allow":
        return "allow"
    if o.kind == "require_approval":
        return "require approval" + (f" via {o.route}" if o.route else "")
    if o.kind == "ask":
        return "ask " + encode_string(o.text or "")
    if o.kind == "escalate":
        return "escalate to " + encode_string(o.text or "")
    return "deny" + (" " + encode_string(o.text) if o.text is not None else "")


def json_text(value: Any, indent: str) -> str:
    """Inline JSON: one line when short, else one member per line."""
    flat = _json_flat(value)
    if len(indent) + len(flat) <= 88 or not isinstance(value, (dict, list)) or not value:
        return flat
    inner = indent + INDENT
    if isinstance(value, dict):
        parts = [f"{inner}{encode_string(k)}: {json_text(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(parts) + "\n" + indent + "}"
    parts = [f"{inner}{json_text(v, inner)}" for v in value]
    return "[\n" + ",\n".join(parts) + "\n" + indent + "]"


def _json_flat(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (bool, int, float, str)):
        return literal_text(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{encode_string(k)}: {_json_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_flat(v) for v in value) + "]"
    raise TypeError(f"not JSON: {value!r}")


# ------------------------------------------------------------------ statements

def _key(span: A.Span) -> Tuple[int, int, int, int]:
    return (span.line, span.column, span.end_line, span.end_column)


def _statement_spans(decls: Sequence[A.Decl]) -> List[A.Span]:
    """Every statement that is printed on its own line: declarations and the lines of blocks."""
    out: List[A.Span] = []
    for d in decls:
        out.append(d.span)
        if isinstance(d, A.Route):
            out.extend(sp for _, sp in d.item_spans)
        elif isinstance(d, A.Tool):
            out.extend(x.span for x in (d.schema, d.mode) if x is not None)
            out.extend(r.span for r in d.risks)
        elif isinstance(d, (A.Category, A.Check)):
            out.extend(l.span for l in d.lines)
    return [s for s in out if s.line > 0]


def _trailing_owners(comments: Sequence[A.Comment], spans: Sequence[A.Span]) -> dict:
    """A comment after code on its line trails the statement that ends last before it on that line
    (a block's statement ends with its `}`): `tool x { risk low }  # c` keeps `# c` after the `}`."""
    ends: dict = {}
    for sp in spans:
        ends.setdefault(sp.end_line, []).append(sp)
    owners = {}
    for c in comments:
        before = [sp for sp in ends.get(c.line, ()) if sp.end_column <= c.column]
        if before:
            owners[(c.line, c.column)] = _key(max(before, key=lambda sp: (sp.end_column, -sp.line, -sp.column)))
    return owners


class _Printer:
    def __init__(self, comments: Sequence[A.Comment], decls: Sequence[A.Decl] = ()):
        self.comments = sorted(comments, key=lambda c: (c.line, c.column))
        self.comment_lines = {c.line for c in comments}
        self.owners = _trailing_owners(self.comments, _statement_spans(decls)) if comments else {}
        self.out: List[str] = []

    def _owner(self, c: A.Comment) -> Optional[Tuple[int, int, int, int]]:
        return self.owners.get((c.line, c.column))

    # comments --------------------------------------------------------------
    def _take(self, pred: Callable[[A.Comment], bool]) -> List[A.Comment]:
        taken = [c for c in self.comments if pred(c)]
        if taken:
            self.comments = [c for c in self.comments if not pred(c)]
        return taken

    def _blank_between(self, prev_end: int, start: int) -> bool:
        if prev_end <= 0 or start <= 0:
            return False
        return any(l not in self.comment_lines for l in range(prev_end + 1, start))

    def items(self, items: List[Item], indent: str, blank_default: Callable[[Render], bool], close_line: int) -> None:
        prev_end = 0
        for i, (span, render) in enumerate(items):
            start = span.line
            leading = self._take(lambda c: start > 0 and c.line < start) if start > 0 else []
            first_line = min([c.line for c in leading] + [start]) if start > 0 else 0
            if i > 0 and (self._blank_between(prev_end, first_line) if start > 0 else blank_default(render)):
                self.out.append("")
            self._comments(leading, indent, start)
            render(indent, span)
            prev_end = span.end_line
        if close_line > 0:
            rest = self._take(lambda c: c.line < close_line)
            if rest and prev_end and self._blank_between(prev_end, rest[0].line):
                self.out.append("")
            self._comments(rest, indent, 0)

    def _comments(self, comments: List[A.Comment], indent: str, before: int) -> None:
        """Comment lines above a statement (line `before`; 0: none), keeping one blank line where the
        source had any between them: a file's header stays apart from the first declaration's note."""
        for k, c in enumerate(comments):
            if k and c.line - comments[k - 1].line > 1:
                self.out.append("")
            self.out.append(indent + c.text)
        if comments and before > 0 and before - comments[-1].line > 1:
            self.out.append("")

    def line(self, indent: str, text: str, span: A.Span) -> None:
        """One statement printed on one line; comments written inside it move above it, one on its
        last line stays at its end."""
        me = _key(span)
        # a comment trailing a later statement on this line (or a block's `}`) is not this one's
        inside = self._take(lambda c: span.line <= c.line <= span.end_line
                            and self._owner(c) in (None, me)) if span.line > 0 else []
        trailing = next((c for c in inside if self._owner(c) == me), None)
        for c in inside:
            if c is not trailing:
                self.out.append(indent + c.text)
        lines = text.split("\n")
        lines[0] = indent + lines[0]
        if trailing is not None:
            lines[-1] += "  " + trailing.text
        self.out.extend(lines)

    def block(self, indent: str, header: str, span: A.Span, items: List[Item]) -> None:
        if not items and not (span.line > 0 and self._take_peek(span)):
            self.line(indent, header + " {}", span)
            return
        first_item_line = min((s.line for s, _ in items if s.line > 0), default=span.end_line)
        head = self._take(lambda c: span.line > 0 and c.line == span.line and c.line < first_item_line
                          and self._owner(c) is None)
        self.out.append(indent + header + " {" + ("  " + head[0].text if head else ""))
        for c in head[1:]:
            self.out.append(indent + INDENT + c.text)
        self.items(items, indent + INDENT, lambda r: False, span.end_line)
        tail = self._take(lambda c: span.line > 0 and c.line == span.end_line
                          and self._owner(c) in (None, _key(span)))
        self.out.append(indent + "}" + ("  " + " ".join(c.text for c in tail) if tail else ""))

    def _take_peek(self, span: A.Span) -> bool:
        return any(span.line <= c.line <= span.end_line for c in self.comments)

    # declarations ----------------------------------------------------------
    def decl(self, d: A.Decl) -> Render:
        ov = "override " if getattr(d, "override", False) else ""
        if isinstance(d, A.PolicyDecl):
            return lambda ind, sp: self.line(ind, "policy " + encode_string(d.name), sp)
        if isinstance(d, A.VersionDecl):
            return lambda ind, sp: self.line(ind, "version " + encode_string(d.version), sp)
        if isinstance(d, A.ModeDecl):
            return lambda ind, sp: self.line(ind, "mode " + d.mode, sp)
        if isinstance(d, A.Use):
            text = "use " + (d.module if d.module is not None else encode_string(d.path or ""))
            return lambda ind, sp: self.line(ind, text, sp)
        if isinstance(d, A.Const):
            value = d.text if d.text is not None else literal_text(d.value)
            return lambda ind, sp: self.line(ind, f"{ov}const {d.name} = {value}", sp)
        if isinstance(d, A.Levels):
            return lambda ind, sp: self.line(ind, "levels " + " < ".join(d.names), sp)
        if isinstance(d, A.UnknownTools):
            return lambda ind, sp: self.line(ind, "unknown tools " + outcome_text(d.outcome), sp)
        if isinstance(d, A.Route):
            return lambda ind, sp: self.block(ind, f"{ov}route {d.name}", sp, self._route_items(d))
        if isinstance(d, A.Tool):
            return lambda ind, sp: self.block(ind, f"{ov}tool {name_text(d.name)}", sp, self._tool_items(d))
        if isinstance(d, A.ToolAlias):
            text = f"{ov}tool {name_text(d.name)} as {name_text(d.target)}"
            return lambda ind, sp: self.line(ind, text, sp)
        if isinstance(d, A.Category):
            items = [(l.span, self._cat_line(l)) for l in d.lines]
            return lambda ind, sp: self.block(ind, f"{ov}category {d.level}", sp, items)
        if isinstance(d, A.Check):
            adv = "advisory " if d.advisory else ""
            targets = "*" if d.targets is None else ", ".join(name_text(t) for t in d.targets)
            items = [(l.span, self._check_line(l)) for l in d.lines]
            return lambda ind, sp: self.block(ind, f"{ov}{adv}check {d.name} on {targets}", sp, items)
        raise TypeError(f"cannot print declaration {d!r}")

    def _route_items(self, r: A.Route) -> List[Item]:
        texts = {}
        if r.approvers:
            texts["approvers"] = "approvers " + ", ".join(encode_string(a) for a in r.approvers)
        if r.quorum is not None:
            texts["quorum"] = f"quorum {r.quorum}"
        if r.timeout is not None:
            texts["timeout"] = f"timeout {r.timeout.text}" + (
                f" then escalate to {encode_string(r.escalate_to)}" if r.escalate_to is not None else "")
        if r.grants_never:
            texts["grants"] = "grants never"
        spans = dict(r.item_spans)
        order = [k for k, _ in r.item_spans if k in texts] + [k for k in texts if k not in spans]
        return [(spans.get(k, A.NO_SPAN), (lambda t: lambda ind, sp: self.line(ind, t, sp))(texts[k])) for k in order]

    def _tool_items(self, t: A.Tool) -> List[Item]:
        items: List[Item] = []
        if t.schema is not None:
            s = t.schema
            def render_schema(ind: str, sp: A.Span, s: A.Schema = s) -> None:
                body = encode_string(s.file) if s.file is not None else json_text(s.inline, ind)
                self.line(ind, "schema " + body, sp)
            items.append((s.span, render_schema))
        for r in t.risks:
            head = "risk " + r.level + (" otherwise" if r.otherwise else "")
            if r.when is None:
                items.append((r.span, (lambda txt: lambda ind, sp: self.line(ind, txt, sp))(head)))
            else:
                items.append((r.span, (lambda h, c: lambda ind, sp: self.line(
                    ind, condition_lines(ind, h + " when ", c), sp))(head, r.when)))
        if t.mode is not None:
            mode = t.mode.mode
            items.append((t.mode.span, lambda ind, sp: self.line(ind, "mode " + mode, sp)))
        if all(s.line > 0 for s, _ in items):
            items.sort(key=lambda it: (it[0].line, it[0].column))
        return items

    def _cat_line(self, l: A.CategoryLine) -> Render:
        head = outcome_text(l.outcome) + (" otherwise" if l.otherwise else "")
        when = l.when
        if when is None:
            return lambda ind, sp: self.line(ind, head, sp)
        return lambda ind, sp: self.line(ind, condition_lines(ind, head + " when ", when), sp)

    def _check_line(self, l: Union[A.Require, A.Budget]) -> Render:
        if isinstance(l, A.Require):
            tail = " else " + outcome_text(l.outcome)
            return lambda ind, sp: self.line(ind, condition_lines(ind, "require ", l.cond, tail), sp)
        else:
            agg = f"sum({path_text(cast(A.Path, l.path))})" if l.agg == "sum" else "count()"  # a sum has a path (E216)
            keys = ", ".join(path_text(k) for k in l.keys)
            limit = number_text(l.limit, l.limit_text)
            text = f"budget {agg} per {keys} per {l.window.text} <= {limit} else {outcome_text(l.outcome)}"
        return lambda ind, sp: self.line(ind, text, sp)


def _is_block(d: A.Decl) -> bool:
    return isinstance(d, (A.Route, A.Tool, A.Category, A.Check))


def format_module(module: A.Module) -> str:
    """Canonical text of a parsed file, comments kept."""
    p = _Printer(module.comments, module.decls)
    items = [(d.span, p.decl(d)) for d in module.decls]
    kinds = [_is_block(d) for d in module.decls]
    it = iter(kinds)
    p.items(items, "", lambda r: next(it, False), 10**9)
    # with no spans, separate blocks by blank lines: the default supplier above is consulted per item
    text = "\n".join(p.out).rstrip("\n")
    return text + "\n" if text else ""


def print_module(decls: Sequence[A.Decl]) -> str:
    """Text of an AST built in memory (no spans, no comments)."""
    p = _Printer(())
    items = [(A.NO_SPAN, p.decl(d)) for d in decls]
    flags = [_is_block(d) or (i > 0 and _is_block(decls[i - 1])) for i, d in enumerate(decls)]
    idx = iter(flags[1:])
    p.items(items, "", lambda r: next(idx, False), 0)
    text = "\n".join(p.out)
    return text + "\n" if text else ""


def format_source(text: str, file: str = "<memory>") -> str:
    """Policy source text in the canonical layout (`signoff fmt`): parsed, then printed back."""
    from .parser import parse
    return format_module(parse(text, file))
