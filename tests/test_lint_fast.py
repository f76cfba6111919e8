"""What keeps `signoff lint` fast without changing a finding: no reference cycles, shared schema and text caches."""
import gc
from pathlib import Path

from policy_lang.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
LINTED = sorted((ROOT / "tests" / "lint").glob("*.policy")) + sorted((ROOT / "tests" / "lint_cases").glob("*.policy"))


def test_a_lint_leaves_no_reference_cycles():
    """lint runs with the cyclic GC paused (a collection walks every node of a large policy again and
    again, for nothing), so what one lint allocates must go by reference counting alone: a cycle (a
    recursive closure holding the lint context, the loader's `visit`) would keep the whole program."""
    for f in LINTED:       # imports and module-level caches first: they live on by design
        lint_file(str(f))
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for f in LINTED:
            assert lint_file(str(f)) is not None
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()


def test_schema_views_are_shared_only_between_equal_schemas():
    """Tools with the same schema share one view (and its memo); a schema that differs in a type a
    JSON reader tells apart (`1`, `1.0`, `true`; a list and a tuple) or in key order does not."""
    from policy_lang.lint.context import shared_views
    a = {"type": "object", "properties": {"n": {"enum": [1]}, "s": {"type": "string"}}}
    views = shared_views({
        "t1": a, "t2": json_copy(a),
        "t3": {"type": "object", "properties": {"n": {"enum": [1.0]}, "s": {"type": "string"}}},
        "t4": {"type": "object", "properties": {"n": {"enum": [True]}, "s": {"type": "string"}}},
        "t5": {"type": "object", "properties": {"s": {"type": "string"}, "n": {"enum": [1]}}},
        "t6": {"type": "object", "properties": {"n": {"enum": (1,)}, "s": {"type": "string"}}},
    })
    assert views["t1"] is views["t2"]
    assert len({id(v) for v in views.values()}) == 5


def json_copy(v):
    import json
    return json.loads(json.dumps(v))


def test_schema_view_answers_are_memoised_per_nodes_and_key():
    """`child` and `types` answer as the unmemoised walk does, for the nodes asked about (not only
    the key), and `types` hands out a set the caller may change."""
    from policy_lang.analysis import SchemaView
    root = {"type": "object", "properties": {
        "a": {"type": "object", "properties": {"x": {"type": "number"}}, "additionalProperties": False},
        "b": {"type": "object", "properties": {"x": {"type": "string"}}},
        "c": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "l": {"type": "array", "items": {"$ref": "#/$defs/i"}}}, "$defs": {"i": {"type": "boolean"}}}
    view, fresh = SchemaView(root), SchemaView(json_copy(root))
    for keys in (("a",), ("a", "x"), ("b", "x"), ("a", "y"), ("b", "y"), ("c",), ("l", 0), ("l", 1), ("z",)):
        for _ in range(2):    # the second time from the memo
            nodes, fresh_nodes = [view.root], [fresh.root]
            for k in keys:
                got, want = view.child(nodes, k), fresh._child(fresh_nodes, k)
                assert got[0] == want[0], keys
                if got[0] != "declared":
                    assert got[1] == want[1]
                    break
                nodes, fresh_nodes = got[1], want[1]
            else:
                assert view.types(nodes) == fresh._types_of(fresh_nodes, 0), keys
    t = view.types(view.child([view.root], "c")[1])
    assert t == {"integer", "number", "null"}
    t.add("string")
    assert view.types(view.child([view.root], "c")[1]) == {"integer", "number", "null"}


def test_logic_texts_are_those_of_the_printer():
    """`Logic.text` and `Logic.path_text` give `expr_text`'s text, also for a node built after another
    one was freed (whose id it may reuse)."""
    from policy_lang import ast as A
    from policy_lang.analysis import Logic
    from policy_lang.printer import expr_text
    L = Logic({})
    for i in range(200):
        e = A.Compare("<=", A.Path("args", ("amount", i)), A.Literal(i))
        assert L.text(e) == expr_text(e) == f"args.amount[{i}] <= {i}"
        p = A.Path("tenant", (f"k{i}", "weird key"))
        assert L.path_text(p) == L.text(p) == expr_text(p)
        del e, p
