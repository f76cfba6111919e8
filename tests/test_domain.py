"""`domain(s)` (spec §4.4 v1.1): URLs and addresses built from parts give their host, in the compiled
engine, through a compiled policy, and in the reference interpreter alike; malformed strings are errors.

The expected host is computed from the parts the test chose (A-labels of the IDN hosts are written out
below, not computed), so a wrong decomposition in either implementation fails here, and the two
implementations, written independently (engine/decide/reference.py says how), are checked against each other
on arbitrary URL-like strings as well.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine import Policy
from engine.decide.reference import Interpreter, ref_domain
from engine.decide.values import EvalError, fn_domain
from policy_lang.checker import load

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROBE = '''policy "domain-probe"
tool probe { risk low }
category low { allow }
check host on probe { require domain(args.s) == args.d else escalate to "other host" }
'''


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return load(str(tmp_path_factory.mktemp("domain") / "probe.policy"), PROBE)


def decisions(program, s, d="-"):
    """(compiled engine, reference interpreter) decisions of `domain(s) == d`, as dicts."""
    action = {"tool": "probe", "args": {"s": s, "d": d}}
    return Policy(program).decide(action).to_dict(), Interpreter(program).decide(action).to_dict()


def host_of(f, s):
    try:
        return f(s)
    except EvalError as e:
        return ("error", e.message)


def assert_host(program, s, want):
    assert fn_domain(s) == want, s
    assert ref_domain(s) == want, s
    for d in decisions(program, s, want):
        assert d["outcome"] == "allow", (s, d)


def assert_error(program, s):
    for f in (fn_domain, ref_domain):
        with pytest.raises(EvalError, match="`domain` cannot read"):
            f(s)
    for d in decisions(program, s):
        errors = [r["message"] for r in d["reasons"] if r["rule"] == "error"]
        assert d["outcome"] == "deny" and len(errors) == 1, (s, d)
        assert errors[0].startswith("`domain` cannot read"), (s, d)


# ----------------------------------------------------------------------------- parts
# (as written, its IDNA form): Unicode labels and their A-labels from the registries / RFC 3492 tests
IDN_LABELS = [("bücher", "xn--bcher-kva"), ("BÜCHER", "xn--bcher-kva"), ("münchen", "xn--mnchen-3ya"),
              ("例え", "xn--r8jz45g"), ("テスト", "xn--zckzah"), ("пример", "xn--e1afmkfd"),
              ("παράδειγμα", "xn--hxajbheg2az3al"), ("faß", "xn--fa-hia"), ("xn--bcher-kva", "xn--bcher-kva"),
              ("ＡＣＭＥ", "acme")]
LDH = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ldh_labels = st.text(LDH, min_size=1, max_size=10).flatmap(
    lambda s: st.just(s) if len(s) < 3 else st.sampled_from([s, s[0] + "-" + s[1:]]))


@st.composite
def hosts(draw):
    """(host as written, expected `domain`)."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        ip = str(draw(st.ip_addresses(v=6)))
        return "[" + ip.upper() + "]", ip.lower()
    if kind == 1:
        ip = str(draw(st.ip_addresses(v=4)))
        return ip, ip
    labels = draw(st.lists(st.one_of(ldh_labels.map(lambda x: (x, x.lower())), st.sampled_from(IDN_LABELS)),
                           min_size=1, max_size=4))
    labels.append(draw(st.sampled_from([("com", "com"), ("example", "example"), ("DE", "de"), ("テスト", "xn--zckzah")])))
    written = ".".join(w for w, _ in labels)
    want = ".".join(a for _, a in labels)
    if draw(st.booleans()):
        written += "."                     # an absolute name: the trailing dot is not part of the host
    return written, want


SCHEMES = st.one_of(st.sampled_from(["https", "http", "HTTPS", "ftp", "ws", "mailto", "git+ssh", "x.y-z"]),
                    st.from_regex(r"[a-zA-Z][a-zA-Z0-9+.\-]{0,6}", fullmatch=True))
USERINFO_CHARS = "abcXYZ019-._~%!$&'()*+,;=:@"
# what follows the authority: any text, `@` and look-alike hosts included, but no control characters
TAIL_CHARS = st.characters(blacklist_categories=("Cc", "Cs"))
AT_HOSTS = st.sampled_from(["@blog.acme.com", "x@blog.acme.com", "@evil.example:443", "//@a.b", "@[::1]", "@"])


def tail_part(lead: str, forbidden: str):
    text = st.text(TAIL_CHARS, max_size=12).map(lambda t: "".join(c for c in t if c not in forbidden))
    return st.lists(st.one_of(text, AT_HOSTS), max_size=3).map(lambda xs: lead + "".join(xs))


@st.composite
def urls(draw):
    """(URL, expected host): scheme, userinfo holding `@`, host, port, path, query, fragment."""
    host, want = draw(hosts())
    scheme = draw(SCHEMES)
    userinfo = draw(st.one_of(st.none(), st.text(USERINFO_CHARS, max_size=12)))
    port = draw(st.one_of(st.none(), st.just(""), st.integers(0, 65535).map(str), st.just("0443")))
    path = draw(st.one_of(st.just(""), tail_part("/", "?#")))
    query = draw(st.one_of(st.just(""), tail_part("?", "#")))
    fragment = draw(st.one_of(st.just(""), tail_part("#", "")))
    url = (scheme + "://" + ("" if userinfo is None else userinfo + "@") + host
           + ("" if port is None else ":" + port) + path + query + fragment)
    return url, want


@st.composite
def addresses(draw):
    """(address, expected host): `local@host`, sometimes as `mailto:` (any case)."""
    host, want = draw(hosts())
    if host.startswith("["):
        host, want = "acme.com", "acme.com"        # `[…]` is a URL's IP literal, not an address's host
    local = draw(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
                                       blacklist_characters="@\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85"),
                         min_size=1, max_size=10))
    local = "".join(c for c in local if not c.isspace()) or "x"
    if ":" in local:
        local = local.replace(":", ".")         # `x:y@host` starts with a scheme: a URL without a host
    prefix = draw(st.sampled_from(["", "", "mailto:", "MailTo:"]))
    addr = prefix + local + "@" + host
    if not prefix and _starts_with_scheme_colon(addr):
        addr = "mailto:" + addr
    return addr, want


def _starts_with_scheme_colon(s: str) -> bool:
    import re
    return re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", s) is not None


@settings(max_examples=400, **SETTINGS)
@given(urls())
@example(("https://evil.example/?ref=x@blog.acme.com", "evil.example"))
@example(("https://evil.example/#@blog.acme.com", "evil.example"))
@example(("https://a@b@Blog.Acme.COM.:8080/x@y?z@w#@q", "blog.acme.com"))
@example(("https://user:p@ss@münchen.DE/", "xn--mnchen-3ya.de"))
def test_a_url_gives_its_host_never_userinfo_path_query_or_fragment(program, case):
    url, want = case
    assert_host(program, url, want)


@settings(max_examples=300, **SETTINGS)
@given(addresses())
@example(("Maria@Acme.COM", "acme.com"))
@example(("mailto:jo@Bücher.de", "xn--bcher-kva.de"))
@example(("a+tag@sub.acme.com.", "sub.acme.com"))
def test_one_address_gives_its_host(program, case):
    addr, want = case
    assert_host(program, addr, want)


MALFORMED = [
    "a@b@c", "@x", "x", "", "acme.com", "https://", "https:///path", "https://user@/x", "https://:443/",
    "https:evil.example", "https:x@acme.com", "http:/evil.example/x@acme.com", "mailto:", "mailto:a@b@c",
    "mailto:@x", "bob:pw@acme.com", " maria@acme.com", "maria@acme.com ", "maria @acme.com", "ma\tria@acme.com",
    " https://acme.com/", "https://acme.com\n/", "https://evil.example\\@acme.com", "https://acme.com:99999/",
    "https://acme.com:8o/", "https://acme.com:１/", "https://[::1]x/", "https://a[::1]/", "https://[v1.abc]/",
    "https://[1.2.3.4]/", "https://[fe80::1%25eth0]/", "https://[::1/", "https://acme.com]/", "https://[x]@acme.com/",
    "https://acme_corp.internal/", "https://evil%2eexample/", "https://*.acme.com/", "https://a..b/",
    "https://acme.com../", "x@acme.com..", "x@", "x@.", "https://xn--zz.com/", "https://-acme.com/",
    "https://evil.example／x@blog.acme.com", "https://evil.example＠blog.acme.com/", "a@[1.2.3.4]",
    "https://" + "a" * 64 + ".com/", "x@" + ".".join(["abcdefghi"] * 30),
]


@pytest.mark.parametrize("s", MALFORMED)
def test_anything_else_is_an_evaluation_error(program, s):
    assert_error(program, s)


@settings(max_examples=200, **SETTINGS)
@given(st.text(st.sampled_from("ab@.:/?#[]"), max_size=12))
def test_strings_with_two_at_signs_and_no_scheme_are_errors(s):
    if s.count("@") >= 2 and not _starts_with_scheme_colon(s):
        for f in (fn_domain, ref_domain):
            with pytest.raises(EvalError):
                f(s)


def test_a_value_that_is_not_a_string_is_an_error(program):
    for v in (42, None, ["a@b.c"], {"a": 1}, True):
        with pytest.raises(EvalError, match="`domain` takes a string"):
            fn_domain(v)
        with pytest.raises(EvalError, match="`domain` takes a string"):
            ref_domain(v)


# ----------------------------------------------------------------------------- differential
PIECES = st.one_of(st.sampled_from(list("aZ0-._~%!$&'()*+,;=:@/?#[]\\ ") + [
    "https://", "mailto:", "::1", "xn--", "ü", "例", "．", "／", "＠", "\u00ad", "ß", "İ", "\t", "\x85", ":443"]),
    st.characters(blacklist_categories=("Cs",)))
URLISH = st.lists(PIECES, max_size=12).map("".join)


@settings(max_examples=1500, **SETTINGS)
@given(st.one_of(URLISH, urls().map(lambda c: c[0]), st.tuples(URLISH, URLISH).map("https://{0[0]}@{0[1]}".format)))
def test_the_two_implementations_agree_on_any_string(s):
    assert host_of(fn_domain, s) == host_of(ref_domain, s), s


# ----------------------------------------------------------------------------- regressions
PUBLISHING = '''policy "publishing-internal-site"
mode guarded
use stdlib.publishing
override const PUBLISHING_INTERNAL_SITES = ["blog.acme.com"]
'''


@pytest.mark.parametrize("url", ["https://evil.example/?ref=x@blog.acme.com", "https://evil.example/#@blog.acme.com",
                                 "https://evil.example/@blog.acme.com", "https://blog.acme.com@evil.example/",
                                 "https://evil.example\\@blog.acme.com/"])
def test_bug_a_page_on_another_host_is_not_an_internal_site(tmp_path, url):
    """Finding 1 (critical): the `@` in a query or fragment made `domain()` read the part after it."""
    program = load(str(tmp_path / "p.policy"), PUBLISHING)
    action = {"tool": "update_web_page", "args": {"url": url, "content": "<p>hi</p>"}, "confidence": 0.99,
              "tenant": {"id": "acme"}, "agent": {"id": "bot"}}
    for d in (Policy(program).decide(action), Interpreter(program).decide(action)):
        assert d.outcome != "allow", (url, json.dumps(d.to_dict()))
    inside = {**action, "args": {"url": "https://Blog.Acme.com/news?x=1#top", "content": "<p>hi</p>"}}
    assert Policy(program).decide(inside).outcome == "allow"
    assert Interpreter(program).decide(inside).outcome == "allow"
