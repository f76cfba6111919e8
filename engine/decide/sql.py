"""`sql_read_only(s[, "DIALECT"])`: whether a SQL text is one read-only query, decided by sqlglot's parser
against an allow-list (an extension to spec §4.4, documented in docs/language.md)."""
from __future__ import annotations

import functools
import logging
import threading
from typing import FrozenSet, Optional, Tuple, Type

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType

from policy_lang.checker import sql_dialects

DEFAULT_DIALECT = "postgres"
# every dialect sqlglot names, except its unnamed generic one (the checker refuses others at load)
DIALECTS: Tuple[str, ...] = sql_dialects()
MAX_SQL = 100_000          # characters; a longer text is not read (false)
CACHE_SIZE = 4096          # distinct (text, dialect) pairs remembered: replays repeat the same queries
MAX_CACHED = 10_000        # characters; longer texts are parsed every time (the cache holds < 41 MB)


def _classes(*names: str) -> FrozenSet[Type[exp.Expression]]:
    # a name this sqlglot version does not have is skipped: the list only ever allows less
    return frozenset(getattr(exp, n) for n in names if hasattr(exp, n))


# Query structure: what a SELECT, its set operations, CTEs, joins, subqueries and expressions are made
# of. Anything else (INTO, FOR UPDATE/SHARE locks, DML or DDL nodes anywhere, commands, VALUES, hints,
# unknown syntax) makes the text not read-only. A LATERAL's content is checked like the rest.
STRUCTURE = _classes(
    "Select", "Union", "Intersect", "Except", "Subquery", "With", "CTE", "From", "Join", "Where", "Group",
    "Having", "Qualify", "Order", "Ordered", "Limit", "LimitOptions", "Offset", "Fetch", "Distinct", "Rollup",
    "Cube", "GroupingSets", "Lateral", "TableSample", "Column", "Identifier",
    "Star", "Dot", "Table", "TableAlias", "Alias", "Literal", "Null", "Boolean", "Var", "DataType",
    "DataTypeParam", "Interval", "IntervalSpan", "Paren", "Tuple", "Array", "Bracket", "Slice", "Neg", "Not",
    "And", "Or", "Xor", "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "NullSafeEQ", "NullSafeNEQ", "Is", "In",
    "Between", "Like", "ILike", "SimilarTo", "Escape", "Collate", "Add", "Sub", "Mul", "Div", "IntDiv", "Mod",
    "DPipe", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitwiseLeftShift", "BitwiseRightShift",
    "Any", "All", "Exists", "Window", "WindowSpec", "Filter", "WithinGroup", "Placeholder", "Parameter",
    "JSONPath", "JSONPathKey", "JSONPathRoot", "JSONPathSubscript", "JSONPathWildcard",
)

# Pure functions (their value depends on their arguments only, or on the clock), by sqlglot class, so
# whatever a dialect calls them. A function sqlglot does not model (exp.Anonymous: pg_sleep,
# pg_terminate_backend, nextval, set_config, dblink, lo_import, txid_current, …) is never on it.
PURE_FUNCTIONS = _classes(
    # aggregates and window functions
    "Count", "CountIf", "Sum", "Avg", "Min", "Max", "ArrayAgg", "GroupConcat", "Stddev", "StddevPop",
    "StddevSamp", "Variance", "VariancePop", "ApproxDistinct", "LogicalAnd", "LogicalOr", "AnyValue", "Median",
    "PercentileCont", "PercentileDisc", "First", "Last", "RowNumber", "Rank", "DenseRank", "Lag", "Lead",
    "FirstValue", "LastValue", "NthValue", "Ntile", "PercentRank", "CumeDist",
    # strings
    "Lower", "Upper", "Length", "Substring", "Trim", "Pad", "Concat", "ConcatWs", "Replace", "Left", "Right",
    "StrPosition", "SplitPart", "Initcap", "Reverse", "Ascii", "Chr", "RegexpLike", "RegexpReplace",
    "RegexpExtract", "MD5", "SHA", "SHA2",
    # numbers
    "Abs", "Round", "Floor", "Ceil", "Sqrt", "Pow", "Exp", "Ln", "Log", "Sign", "Greatest", "Least",
    # dates and times
    "CurrentDate", "CurrentTime", "CurrentTimestamp", "DateTrunc", "TimestampTrunc", "DateAdd", "DateSub",
    "DateDiff", "Extract", "TimeToStr", "StrToTime", "StrToDate", "Date", "ToChar", "Year", "Quarter", "Month",
    "Week", "Day", "DayOfWeek", "UnixToTime", "TimeToUnix", "TsOrDsToDate",
    # conditionals, casts, JSON access
    "Coalesce", "Nullif", "If", "Case", "Cast", "TryCast", "Unnest", "JSONExtract", "JSONExtractScalar", "JSONBExtract",
    "JSONBExtractScalar",
)

# Tokens that start a statement. In T-SQL (and Sybase) statements need no `;` between them, so
# `select 1 delete from users` is two statements there, while sqlglot's postgres reads `delete` as a
# column alias. So such a token, unquoted, right after a token a statement can end with (a name, a
# literal, `)`, `*`, DESC, …) makes the text not read-only, whatever the dialect. After a token no
# statement ends with (`,`, `(`, `.`, AS, WHERE, an operator, …) it is a name (`select comment from
# posts`) or part of a node the allow-list refuses (`(delete from t returning *)`). The statement
# tokens are sqlglot's own tables (statement parsers and commands), minus what a SELECT uses too.
_IN_QUERIES = {TokenType.SELECT, TokenType.WITH, TokenType.SEMICOLON, TokenType.DESC, TokenType.END,
               TokenType.FETCH, TokenType.PIVOT, TokenType.UNPIVOT}
_NO_END_BEFORE = frozenset({
    TokenType.SELECT, TokenType.DISTINCT, TokenType.COMMA, TokenType.DOT, TokenType.L_PAREN, TokenType.ALIAS,
    TokenType.WHERE, TokenType.AND, TokenType.OR, TokenType.NOT, TokenType.ORDER_BY, TokenType.GROUP_BY,
    TokenType.PARTITION_BY, TokenType.ON, TokenType.HAVING, TokenType.FROM, TokenType.JOIN, TokenType.EQ,
    TokenType.NEQ, TokenType.LT, TokenType.LTE, TokenType.GT, TokenType.GTE, TokenType.PLUS, TokenType.DASH,
    TokenType.SLASH, TokenType.DPIPE, TokenType.DCOLON, TokenType.WHEN, TokenType.THEN, TokenType.ELSE,
})


@functools.lru_cache(maxsize=None)
def _dialect(name: str) -> Tuple[Dialect, FrozenSet[TokenType]]:
    d = Dialect.get_or_raise(name)
    starters = set(d.parser_class.STATEMENT_PARSERS) | set(d.tokenizer_class.COMMANDS) | {TokenType.COMMAND}
    return d, frozenset(starters - _IN_QUERIES)


def dialect_problem(name: str) -> Optional[str]:
    """None for a dialect name `sql_read_only` knows, else why not (for the checker's load error)."""
    return None if name in DIALECTS else f"unknown SQL dialect `{name}`"


class _Quiet(logging.Filter):
    """Drops the warning sqlglot logs (with the SQL in it) when it falls back to a generic command; a decision
    must not write the agent's text to the log, so that warning is dropped while we parse."""
    active = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.active, "on", False)


_QUIET = _Quiet()
logging.getLogger("sqlglot").addFilter(_QUIET)


def _allowed(node: exp.Expr) -> bool:
    t = type(node)
    return t in STRUCTURE or t in PURE_FUNCTIONS


@functools.lru_cache(maxsize=CACHE_SIZE)
def _read_only(sql: str, dialect: str) -> bool:
    d, starters = _dialect(dialect)
    low = sql.lower()
    if "/*!" in low or "/*m!" in low:
        return False  # MySQL/MariaDB run what is inside `/*! … */`; the parser sees only a comment
    _QUIET.active.on = True
    try:
        tokens = d.tokenize(sql)
        # a statement keyword where a statement could have ended: a second statement in T-SQL (above)
        for before, tok in zip(tokens, tokens[1:]):
            if tok.token_type in starters and before.token_type not in _NO_END_BEFORE:
                return False
        statements = [s for s in d.parser().parse(tokens, sql) if s is not None and not isinstance(s, exp.Semicolon)]
    except Exception:  # noqa: BLE001  SqlglotError, and whatever else hostile text provokes in a parser
        return False   # what sqlglot cannot read is not read-only
    finally:
        _QUIET.active.on = False
    if len(statements) != 1:
        return False
    root = statements[0]
    while isinstance(root, exp.Subquery):
        root = root.this
    if not isinstance(root, (exp.Select, exp.SetOperation) if hasattr(exp, "SetOperation")
                      else (exp.Select, exp.Union, exp.Intersect, exp.Except)):
        return False
    return all(_allowed(n) for n in statements[0].walk())


def sql_read_only(s: object, dialect: str = DEFAULT_DIALECT) -> bool:
    """True only for one SELECT (WITH … SELECT, UNION/INTERSECT/EXCEPT of selects, subqueries) without
    INTO, locking clauses or data-modifying CTEs, calling only functions of PURE_FUNCTIONS; false for
    anything else, for what sqlglot cannot parse, and for a text longer than MAX_SQL characters.
    The caller checks that `s` is a string (an evaluation error otherwise)."""
    n = len(s)  # type: ignore[arg-type]
    if n > MAX_SQL:
        return False
    if n > MAX_CACHED:
        return _read_only.__wrapped__(s, dialect)  # not kept: the cache stays small
    return _read_only(s, dialect)
