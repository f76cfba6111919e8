"""`sql_read_only(s[, "DIALECT"])`: an allow-list decided by sqlglot's parser. Generated read-only SELECTs are
true; each way of making one write, lock, run a second statement or call a function that acts makes it
false; the stdlib.data_deletion reproductions of finding 2 are gated; dialects are checked at load."""
from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Policy
from engine.decide.reference import Interpreter
from engine.decide.sql import DEFAULT_DIALECT, DIALECTS, MAX_SQL, PURE_FUNCTIONS, sql_read_only
from engine.decide.values import EvalError, fn_sql_read_only
from policy_lang import PolicyError
from policy_lang.checker import load

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

READ_ONLY = [
    "select id, name from users where id = 3",
    "with x as (select 1) select * from x",
    "SELECT id, status FROM orders WHERE customer_id = 'cus-17';",
    "select id from a union all select id from b except select id from c",
    "(select 1)",
    "select * from orders where customer_id in (select id from customers where plan = 'pro')",
    "select u.name, o.total from users u join orders o on o.user_id = u.id "
    "where o.created_at > now() - interval '7 days' order by o.total desc limit 10",
    "select replace(name, 'a', 'b'), coalesce(nick, name)::text, data->>'k' from users",
    "select date_trunc('day', created_at), sum(amount) from payments group by 1 having sum(amount) > 10",
    "select row_number() over (partition by a order by b desc), count(*) filter (where ok) from t group by a, b",
    "select * from t where id = $1 fetch first 10 rows only",
    "select case when a > 1 then 'x' else 'y' end as k from t where name like 'x%' and b between 1 and 2",
    'select 1 as "delete" from users',
    "with recursive r(n) as (select 1 union all select n + 1 from r where n < 5) select * from r",
    "select 1; -- that is all",
    "select comment, p.load from posts p where comment is not null order by comment",   # keywords as names
]

NOT_READ_ONLY = [
    # finding 2's reproductions
    "explain (analyze) delete from users", "explain /**/ analyze delete from users", "select 1 delete from users",
    "SELECT * INTO backup FROM users", "select pg_terminate_backend(123)",
    # statements and commands other than a select
    "delete from users", "update users set a = 1", "insert into users values (1)", "merge into t using u on true "
    "when matched then delete", "drop table users", "truncate users", "alter table users add x int",
    "create table x as select 1", "grant all on users to public", "copy users to '/tmp/x'", "call p()", "set x = 1",
    "show tables", "describe users", "explain select 1", "vacuum", "begin", "values (1)", "", ";", "   ",
    # a select that writes, locks or acts
    "select 1; delete from users", "select 1; select 2", "with gone as (delete from carts returning id) select * from gone",
    "with x as (insert into t values (1) returning *) select * from x", "select * from (delete from t returning *) d",
    "select * from accounts for update", "select * from accounts for share", "select * from accounts for no key update",
    "select 1 as x into temp y", "select nextval('s')", "select pg_sleep(10)", "select set_config('a', 'b', false)",
    "select lo_import('/etc/passwd')", "select txid_current()", "select * from dblink('db', 'delete from t')",
    "select * from generate_series(1, 1000000000)", "select 1 vacuum", "select 1 merge into x",
    "select a from t where b = 1 delete from users", "select 1 exec('drop table x')",
    "select * delete from users", "select a from t order by a desc delete from users", "select (1) delete from t",
    "select x comment on table t is 'x'", "select 1 /*! , sleep(10) */", "select 1 /*M!100000 , sleep(10) */",          # MySQL runs these comments
    # what the parser cannot read
    "selec id from users", "select from where", "select 'unterminated", "select (1",
]


@pytest.mark.parametrize("sql", READ_ONLY)
def test_read_only_queries_are_read_only(sql):
    assert sql_read_only(sql) is True


@pytest.mark.parametrize("sql", NOT_READ_ONLY)
def test_anything_else_is_not(sql):
    assert sql_read_only(sql) is False


# ------------------------------------------------------------------------ generated selects
IDENT = st.sampled_from(["id", "name", "amount", "created_at", "status", "t.id", "u.email", '"Weird Col"'])
TABLES = st.sampled_from(["users", "orders o", "public.accounts", '"Quoted Table" q', "t"])
LITERALS = st.one_of(st.integers(-1000, 1000).map(str), st.sampled_from(["'x'", "'it''s'", "null", "true", "1.5"]))


def _expr(depth: int):
    leaf = st.one_of(IDENT, LITERALS)
    if depth <= 0:
        return leaf
    sub = _expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(st.sampled_from(["lower", "upper", "length", "abs", "round", "coalesce", "max", "min", "count",
                                   "sum", "avg", "trim"]), sub).map(lambda p: f"{p[0]}({p[1]})"),
        st.tuples(sub, st.sampled_from(["+", "-", "*", "=", "<>", "<", ">=", "||", "and", "or"]), sub)
        .map(lambda p: f"({p[0]} {p[1]} {p[2]})"),
        sub.map(lambda e: f"case when {e} is null then 0 else 1 end"),
        sub.map(lambda e: f"cast({e} as text)"),
    )


@st.composite
def selects(draw, depth: int = 2):
    cols = draw(st.lists(_expr(depth), min_size=1, max_size=3))
    q = "select " + ("distinct " if draw(st.booleans()) else "") + ", ".join(cols) + " from " + draw(TABLES)
    if draw(st.booleans()):
        q += " where " + draw(_expr(depth))
    if draw(st.booleans()):
        q += " order by 1" + draw(st.sampled_from(["", " desc", " asc"]))
    if draw(st.booleans()):
        q += f" limit {draw(st.integers(0, 100))}"
    if draw(st.integers(0, 3)) == 0:
        q = f"with c as ({q}) select * from c"
    if draw(st.integers(0, 3)) == 0:
        q = f"{q} union {draw(selects(0)) if depth else 'select 1'}"
    return q


@settings(max_examples=150, **SETTINGS)
@given(selects())
def test_generated_read_only_selects_are_read_only(sql):
    assert sql_read_only(sql), sql


WRITES = [
    lambda q: q + " delete from users",                      # a second statement, no `;` (T-SQL runs it)
    lambda q: q + "; delete from users",
    lambda q: q + "; drop table users",
    lambda q: f"with w as (delete from users returning id) {q}",
    lambda q: f"with w as (update users set a = 1 returning id) {q}",
    lambda q: f"explain analyze {q}",
    lambda q: f"explain {q}",
    lambda q: f"select pg_terminate_backend(1), * from ({q}) s",
    lambda q: f"select * from ({q}) s where pg_sleep(5) is null",
    lambda q: f"select * into backup from ({q}) s",
    lambda q: f"select * from ({q}) s for update",
    lambda q: f"insert into audit {q}",
    lambda q: f"create table x as {q}",
]


@settings(max_examples=200, **SETTINGS)
@given(selects(), st.sampled_from(range(len(WRITES))))
def test_every_way_of_writing_makes_a_select_not_read_only(sql, i):
    assert sql_read_only(sql)
    written = WRITES[i](sql)
    assert not sql_read_only(written), written


@settings(max_examples=300, **SETTINGS)
@given(st.text(max_size=60))
def test_arbitrary_text_gives_a_boolean_and_logs_nothing(text):
    logging.getLogger("sqlglot").setLevel(logging.WARNING)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("sqlglot").addHandler(handler)
    try:
        assert sql_read_only(text) in (True, False)
    finally:
        logging.getLogger("sqlglot").removeHandler(handler)
    assert records == []


def test_a_command_fallback_writes_no_warning_with_the_agents_sql(caplog):
    with caplog.at_level(logging.DEBUG):
        assert sql_read_only("explain (analyze) delete from secret_table_name") is False
    assert "secret_table_name" not in caplog.text


def test_the_allow_list_has_no_function_that_acts():
    names = {c.__name__ for c in PURE_FUNCTIONS}
    assert "Anonymous" not in names and names >= {"Count", "Sum", "Lower", "Abs", "CurrentTimestamp", "Coalesce"}


def test_text_longer_than_the_cap_is_not_read():
    assert sql_read_only("select 1" + " " * MAX_SQL) is False
    assert sql_read_only("select 1" + " " * 20_000) is True      # long, below the cap: parsed, not cached


def test_dialects():
    assert DEFAULT_DIALECT == "postgres" and {"postgres", "mysql", "tsql", "sqlite", "snowflake"} <= set(DIALECTS)
    assert sql_read_only("select `a` from `t`", "mysql") and not sql_read_only("select `a` from `t`", "postgres")
    assert sql_read_only("select top 3 [a] from [t]", "tsql")
    assert not sql_read_only("select 1 delete from users", "tsql")


def test_a_value_that_is_not_a_string_is_an_evaluation_error():
    for v in (42, None, ["select 1"], True):
        with pytest.raises(EvalError, match="`sql_read_only` takes a string"):
            fn_sql_read_only(v)
    with pytest.raises(EvalError, match="unknown SQL dialect"):
        fn_sql_read_only("select 1", "nosuchdialect")


# ------------------------------------------------------------------------ through a policy
POLICY = '''policy "sql-probe"
tool q { risk low when sql_read_only(args.q) risk medium otherwise }
tool q_mysql { risk low when sql_read_only(args.q, DIALECT) risk medium otherwise }
const DIALECT = "mysql"
category low { allow }
category medium { require approval via dba }
route dba { approvers "dba" }
check not_a_write on q { require not (sql_read_only(args.q) and args.q contains "forbidden") else deny }
'''


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return load(str(tmp_path_factory.mktemp("sql") / "sql.policy"), POLICY)


@pytest.mark.parametrize("q,outcome", [("select 1", "allow"), ("select 1 delete from users", "require_approval"),
                                       ("select 'forbidden'", "deny"), (7, "deny"), (None, "deny")])
def test_the_engine_and_the_reference_decide_alike(program, q, outcome):
    action = {"tool": "q", "args": {} if q is None else {"q": q}}
    got, want = Policy(program).decide(action).to_dict(), Interpreter(program).decide(action).to_dict()
    assert got == want and got["outcome"] == outcome, got


def test_a_dialect_const_is_read_at_load(program):
    d = Policy(program).decide({"tool": "q_mysql", "args": {"q": "select `a` from t"}})
    assert d.outcome == "allow"


@pytest.mark.parametrize("arg,message", [('"postgresql"', "unknown SQL dialect `postgresql`"),
                                         ('"MySQL"', "unknown SQL dialect `MySQL`"),
                                         ("args.d", "takes its dialect as a string literal"),
                                         ("1", "takes its dialect as a string literal")])
def test_a_bad_dialect_is_a_load_error(tmp_path, arg, message):
    text = f'policy "p"\ntool q {{ risk low when sql_read_only(args.q, {arg}) }}\ncategory low {{ allow }}\n'
    with pytest.raises(PolicyError) as e:
        load(str(tmp_path / "p.policy"), text)
    d = e.value.diagnostics[0]
    assert d.code == "E221" and message in d.message
    if arg == '"MySQL"':
        assert d.help == "did you mean `mysql`?"


def test_arity(tmp_path):
    with pytest.raises(PolicyError) as e:
        load(str(tmp_path / "p.policy"), 'policy "p"\ntool q { risk low when sql_read_only() }\ncategory low { allow }\n')
    assert e.value.diagnostics[0].code == "E207"


# ------------------------------------------------------------------------ regression: stdlib.data_deletion
DATA = '''policy "data"
mode guarded
use stdlib.data_deletion
'''


@pytest.mark.parametrize("sql", ["explain (analyze) delete from users", "explain /**/ analyze delete from users",
                                 "select 1 delete from users", "SELECT * INTO backup FROM users",
                                 "select pg_terminate_backend(123)"])
def test_bug_destructive_sql_is_not_read_only_in_stdlib_data_deletion(tmp_path, sql):
    """Finding 2 (high): each of these was allowed as a read-only query."""
    program = load(str(tmp_path / "p.policy"), DATA)
    action = {"tool": "execute_sql", "args": {"query": sql}, "confidence": 0.99, "tenant": {"id": "acme"},
              "agent": {"id": "bot"}}
    for d in (Policy(program).decide(action), Interpreter(program).decide(action)):
        assert d.outcome == "require_approval" and d.category == "medium", (sql, d.to_dict())
        assert any(r.rule == "check sql_writes" for r in d.reasons)


@pytest.mark.parametrize("sql", ["select id, name from users where id = 3", "with x as (select 1) select * from x"])
def test_plain_selects_stay_allowed_in_stdlib_data_deletion(tmp_path, sql):
    program = load(str(tmp_path / "p.policy"), DATA)
    action = {"tool": "execute_sql", "args": {"query": sql}, "confidence": 0.8, "tenant": {"id": "acme"},
              "agent": {"id": "bot"}}
    d = Policy(program).decide(action)
    assert d.outcome == "allow" and d.category == "low", d.to_dict()
