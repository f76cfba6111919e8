"""The web inbox at /inbox: server-rendered pages for approvers, usable without JavaScript.

Sign in with an API key (or an OIDC token); sessions live in the store (shared by every server on it) behind
an HttpOnly, SameSite=Strict cookie (Secure over https); every form carries a CSRF token; the CSP allows no script at all; every string
is escaped by Jinja2's autoescape. Each act goes through the same gate steps as the API.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .service import MAX_BODY, Service, call_gate, iso, read_body
from . import oidc_login
from .auth import Principal
from .config import ConfigError
from .keys import key_hash
from .errors import Problem

__all__ = ["inbox_routes", "CSP", "SESSION_COOKIE"]

log = logging.getLogger("signoff.inbox")

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "signoff_session"
LOGIN_COOKIE = "signoff_login"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store"}

_env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"], default=True),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)
_env.filters["shown"] = lambda v: json.dumps(v) if isinstance(v, bool) or v is None else v


@dataclass(frozen=True)
class Session:
    """A signed-in person's session as the store keeps it: who, how they signed in (an API key's hash, checked
    again on every request so a revoked key ends the session; or an OIDC token's identity, until the token's
    expiry), the CSRF token of their forms and when the session ends."""
    identity: str
    via: str
    key_hash: Optional[str]
    principal: Dict[str, Any]
    csrf: str
    expires: float


def _sid_hash(sid: str) -> str:
    # the store keeps the id's SHA-256 only: a copy of the database signs nobody in
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


class Sessions:
    """The inbox's sessions, in the store: every server process on it shares them, and a restart signs nobody
    out. The browser holds a random 256-bit id; the store keeps its hash."""

    def new(self, svc: Service, p: Principal, token: str, ttl: float) -> Tuple[str, Session]:
        """A new session for this signed-in person: (session id, session)."""
        sid = secrets.token_urlsafe(32)
        now = time.time()
        who = {"id": p.id, "roles": sorted(p.identity.roles), "tenant": p.tenant, "kind": p.kind,
               "expires": p.expires}
        s = Session(p.id, p.via, key_hash(token) if p.via == "key" else None, who, secrets.token_urlsafe(32),
                    now + ttl)
        with svc.auth.store.transaction() as tx:
            tx.put_session(_sid_hash(sid), s.identity, s.via, s.key_hash, json.dumps(who), s.csrf, now, s.expires)
        return sid, s

    def get(self, svc: Service, sid: Optional[str]) -> Optional[Session]:
        """The live session with this id, or None."""
        if not sid or len(sid) > 100:
            return None
        with svc.auth.store.snapshot() as tx:
            row = tx.session(_sid_hash(sid))
        if row is None or float(row["expires"]) <= time.time():
            return None
        try:
            who = json.loads(row["principal"])
        except ValueError:
            return None
        return Session(row["identity"], row["via"], row["key_hash"], who, row["csrf"], float(row["expires"]))

    def drop(self, svc: Service, sid: Optional[str]) -> None:
        """End a session."""
        if sid and len(sid) <= 100:
            with svc.auth.store.transaction() as tx:
                tx.drop_session(_sid_hash(sid))


def _secure(svc: Service, request: Request) -> bool:
    if svc.config.secure_cookies is not None:
        return svc.config.secure_cookies
    if request.url.scheme == "https":
        return True
    import ipaddress
    client = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return False
    trusted = any(ip in n for n in svc.config.trusted_proxies)
    return trusted and request.headers.get("x-forwarded-proto", "") == "https"


def _page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    html = _env.get_template(name).render(**ctx)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _error(status: int, title: str, detail: str, principal: Optional[Principal] = None) -> HTMLResponse:
    return _page("error.html", status=status, title=title, detail=detail, me=principal)


async def _form(request: Request) -> Dict[str, str]:
    raw = await read_body(request)
    if len(raw) > MAX_BODY:
        raise Problem("body_too_large", "the form is too large")
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        raise Problem("invalid_body", "the form cannot be read") from None
    return {k: v[-1] for k, v in parsed.items()}


def _same_token(a: Optional[str], b: Optional[str]) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class Inbox:
    """The inbox's handlers over the service."""

    def __init__(self) -> None:
        self.sessions = Sessions()
        self._lines: Dict[str, List[str]] = {}
        self._ends: Optional[oidc_login.Endpoints] = None

    # ------------------------------------------------------------ who
    def who(self, svc: Service, request: Request) -> Tuple[Optional[Principal], Optional[Session]]:
        """The signed-in person and their session, or (None, None)."""
        s = self.sessions.get(svc, request.cookies.get(SESSION_COOKIE))
        if s is None:
            return None, None
        try:
            p = svc.auth.session_principal(s.via, s.key_hash, s.principal)
        except Problem:
            self.sessions.drop(svc, request.cookies.get(SESSION_COOKIE))
            return None, None
        request.state.actor = p.id
        return p, s

    def rule_text(self, svc: Service, at: Optional[str]) -> str:
        """The policy's source line a reason or trace entry points at (`file:line:col`), or ''."""
        if not at:
            return ""
        parts = at.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return ""
        base = Path(svc.holder.path).resolve().parent
        path = (base / parts[0]).resolve()
        if base not in path.parents and path.parent != base:
            return ""
        key = str(path)
        if key not in self._lines:
            try:
                self._lines[key] = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                self._lines[key] = []
        lines = self._lines[key]
        n = int(parts[1])
        return lines[n - 1].strip() if 0 < n <= len(lines) else ""

    # ------------------------------------------------------------ pages
    async def home(self, request: Request) -> Response:
        """GET /inbox/: the pending drafts the person may act on, or the sign-in page."""
        svc: Service = request.app.state.service
        p, s = self.who(svc, request)
        if p is None or s is None:
            return self.login_page(svc, request)
        rows = [svc.summary(d) | {"args": d.args, "proposer": d.proposer, "routes": [r.name for r in d.routes]}
                for d in svc.visible_drafts(p, "drafted")]
        return _page("list.html", me=p, csrf=s.csrf, drafts=rows, tenant=p.tenant)

    def login_page(self, svc: Service, request: Request, status: int = 200, problem: str = "") -> Response:
        """The sign-in form, with a fresh double-submit CSRF token."""
        token = secrets.token_urlsafe(32)
        oidc = svc.config.oidc
        resp = _page("login.html", status=status, csrf=token, problem=problem, oidc=oidc is not None,
                     oidc_login=oidc is not None and oidc.login)
        resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(svc, request),
                        path="/inbox", max_age=3600)
        return resp

    async def login(self, request: Request) -> Response:
        """POST /inbox/login: an API key (or OIDC token) starts a session."""
        svc: Service = request.app.state.service
        form = await _form(request)
        if not _same_token(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
            return _error(403, "refused", "the form's csrf token is missing or wrong: reload the page and try again")
        try:
            p = svc.auth.authenticate(form.get("token", "").strip())
        except Problem:
            return self.login_page(svc, request, 401, "that key is not valid")
        if p.kind != "human":
            return self.login_page(svc, request, 403, "agents cannot sign in to the inbox")
        ttl = float(svc.config.session_seconds)
        if p.expires is not None:
            ttl = min(ttl, p.expires - time.time())
        sid, _ = self.sessions.new(svc, p, form["token"].strip(), ttl)
        resp = RedirectResponse("/inbox/", status_code=303, headers=HEADERS)
        resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", secure=_secure(svc, request),
                        path="/inbox", max_age=int(ttl))
        resp.delete_cookie(LOGIN_COOKIE, path="/inbox")
        return resp

    # ------------------------------------------------------------ sign-in with the OIDC provider
    def _redirect_uri(self, svc: Service, request: Request) -> str:
        base = svc.config.public_url or str(request.base_url)
        return base.rstrip("/") + "/inbox/oidc/callback"

    def _endpoints(self, svc: Service) -> oidc_login.Endpoints:
        if self._ends is None:
            assert svc.config.oidc is not None
            self._ends = oidc_login.discover(svc.config.oidc)   # once: the provider's endpoints do not move
        return self._ends

    async def oidc_start(self, request: Request) -> Response:
        """GET /inbox/oidc/start: to the provider, with a fresh state, nonce and PKCE challenge."""
        svc: Service = request.app.state.service
        cfg = svc.config.oidc
        if cfg is None or not cfg.login:
            return _error(404, "not found", "this server has no oidc sign-in")
        try:
            ends = await run_in_threadpool(self._endpoints, svc)
        except ConfigError as e:
            log.error("%s", e.message)
            return _error(502, "sign-in unavailable", "the identity provider cannot be used now: try again later")
        go = oidc_login.start(cfg, ends, self._redirect_uri(svc, request))
        resp = RedirectResponse(go.url, status_code=303, headers=HEADERS)
        # Lax, not Strict: the provider sends the browser back with a cross-site navigation
        resp.set_cookie(oidc_login.FLOW_COOKIE, go.cookie, httponly=True, samesite="lax",
                        secure=_secure(svc, request), path="/inbox/oidc", max_age=600)
        return resp

    async def oidc_callback(self, request: Request) -> Response:
        """GET /inbox/oidc/callback: check the state, trade the code for an ID token, verify it, start a session."""
        svc: Service = request.app.state.service
        cfg = svc.config.oidc
        if cfg is None or not cfg.login:
            return _error(404, "not found", "this server has no oidc sign-in")
        q = request.query_params
        flow = oidc_login.read_flow(request.cookies.get(oidc_login.FLOW_COOKIE))
        try:
            if q.get("error"):
                raise oidc_login.LoginError("the sign-in was not completed at the provider "
                                            f"(`{q.get('error', '')[:60]}`)")
            if flow is None or not _same_token(q.get("state"), flow[0]):
                raise oidc_login.LoginError("this sign-in was not started here, or took too long: start again", 403)
            code = q.get("code") or ""
            if not code or len(code) > 2048:
                raise oidc_login.LoginError("the provider sent no code")
            ends = await run_in_threadpool(self._endpoints, svc)
            token = await run_in_threadpool(oidc_login.exchange, cfg, ends, code, flow[2],
                                            self._redirect_uri(svc, request))
            try:
                p = svc.auth.id_token(token, flow[1])
            except Problem:
                raise oidc_login.LoginError("the provider's id token is not valid for this server") from None
            if p.kind != "human":
                raise oidc_login.LoginError("agents cannot sign in to the inbox", 403)
        except ConfigError as e:
            log.error("%s", e.message)
            return self._flow_done(svc, request, _error(502, "sign-in unavailable",
                                                        "the identity provider cannot be used now"))
        except oidc_login.LoginError as e:
            log.info('{"event": "oidc_sign_in_refused", "detail": %s}', json.dumps(e.message))
            return self._flow_done(svc, request, _error(e.status, "not signed in", e.message))
        ttl = float(svc.config.session_seconds)
        if p.expires is not None:
            ttl = min(ttl, p.expires - time.time())
        sid, _ = self.sessions.new(svc, p, "", ttl)
        # a page, not a redirect: the browser arrived from the provider's site, so the SameSite=Strict session
        # cookie would not go with a redirect's request; the page's own link and refresh are same-site
        resp = _page("signed_in.html", who=p)
        resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", secure=_secure(svc, request),
                        path="/inbox", max_age=int(ttl))
        return self._flow_done(svc, request, resp)

    @staticmethod
    def _flow_done(svc: Service, request: Request, resp: Response) -> Response:
        resp.delete_cookie(oidc_login.FLOW_COOKIE, path="/inbox/oidc", httponly=True, samesite="lax",
                           secure=_secure(svc, request))
        return resp

    async def logout(self, request: Request) -> Response:
        """POST /inbox/logout: end the session."""
        svc: Service = request.app.state.service
        p, s = self.who(svc, request)
        form = await _form(request)
        if s is not None and not _same_token(form.get("csrf"), s.csrf):
            return _error(403, "refused", "the form's csrf token is missing or wrong", p)
        self.sessions.drop(svc, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/inbox/", status_code=303, headers=HEADERS)
        resp.delete_cookie(SESSION_COOKIE, path="/inbox")
        return resp

    async def draft(self, request: Request) -> Response:
        """GET /inbox/drafts/{id}: what the agent wanted, why it waits, budgets, history, and the forms."""
        svc: Service = request.app.state.service
        p, s = self.who(svc, request)
        if p is None or s is None:
            return RedirectResponse("/inbox/", status_code=303, headers=HEADERS)
        try:
            d = svc.read_draft(p, request.path_params["id"])
        except Problem:
            return _error(404, "not found", f"no draft `{request.path_params['id']}`", p)
        with svc.reads() as tx:
            rec = svc.draft_record(tx, p, d["id"])
            proposed = dict(rec.proposed, args=rec.args, timestamp=iso(time.time()))
            _, trace = svc.holder.policy.explain(proposed, tx.ledger())
        reasons = [dict(r, text=self.rule_text(svc, r.get("at"))) for r in d["decision"].get("reasons", [])]
        steps = [dict(t, text=self.rule_text(svc, t.get("at"))) for t in trace]
        budgets = [dict(t, used=c["expr"]) for t in trace for c in t.get("conditions", [])
                   if str(c.get("expr", "")).startswith("total ")]
        first = d["events"][0]["payload"]["action"] if d["events"] and isinstance(d["events"][0]["payload"], dict) \
            and "action" in d["events"][0]["payload"] else {}
        args = [(k, v, isinstance(v, str)) for k, v in sorted(d["args"].items())]
        notice = request.query_params.get("notice", "")
        return _page("draft.html", me=p, csrf=s.csrf, d=d, reasons=reasons, trace=steps, budgets=budgets,
                     confidence=first.get("confidence", rec.proposed.get("confidence")), args=args,
                     may_act=svc.may_act(p, rec) and d["state"] == "drafted",
                     may_reject=svc.may_act(p, rec) and d["state"] in ("drafted", "approved"), notice=notice)

    async def act(self, request: Request) -> Response:
        """POST /inbox/drafts/{id}/{approve|reject|edit}: the form's act, then back to the draft's page."""
        svc: Service = request.app.state.service
        p, s = self.who(svc, request)
        form = await _form(request)
        if p is None or s is None:
            return _error(401, "signed out", "sign in again: your session ended")
        if not _same_token(form.get("csrf"), s.csrf):
            request.state.code = "csrf"
            return _error(403, "refused", "the form's csrf token is missing or wrong: nothing was changed", p)
        draft_id, verb = request.path_params["id"], request.path_params["verb"]
        expected = form.get("hash", "")
        comment = form.get("comment") or None
        try:
            before = svc.check(p, draft_id, expected or None)
            if not expected:
                raise Problem("invalid_body", "the form has no hash: reload the page")
            if verb == "approve":
                await call_gate(svc.gate.approve, draft_id, p.identity, comment=comment, expected_hash=expected)
                notice = "approved"
            elif verb == "reject":
                if not comment:
                    raise Problem("invalid_body", "a rejection needs a comment")
                await call_gate(svc.gate.reject, draft_id, p.identity, comment)
                notice = "rejected"
            elif verb == "edit":
                patch = self.patch_from(form, before.args)
                if not patch:
                    raise Problem("invalid_body", "nothing was changed")
                await call_gate(svc.gate.edit, draft_id, p.identity, patch, comment=comment, expected_hash=expected)
                with svc.reads() as tx:
                    dd = tx.get_action(draft_id)["last_decision"]
                notice = f"edited and decided again: {dd['outcome']}" + (
                    f" (category {dd['category']})" if dd.get("category") else "")
            else:
                return _error(404, "not found", f"no such act `{verb}`", p)
        except Problem as e:
            request.state.code = e.code
            if e.code == "not_found":
                return _error(404, "not found", e.detail, p)
            return _error(e.status, e.title, e.detail, p)
        after = svc.read_draft(p, draft_id)
        if before.state == "drafted" and after["state"] != "drafted":
            svc.metrics.closed(before, after["state"])
        return RedirectResponse(f"/inbox/drafts/{quote(draft_id)}?notice={quote(notice)}", status_code=303,
                                headers=HEADERS)

    @staticmethod
    def patch_from(form: Dict[str, str], args: Dict[str, Any]) -> Any:
        """The edit a form asks for: its JSON Patch text when given, else a merge patch of the changed
        per-argument fields (a string argument stays a string; others are read as JSON)."""
        text = form.get("patch", "").strip()
        if text:
            try:
                patch = json.loads(text)
            except ValueError:
                raise Problem("invalid_body", "the json patch is not json") from None
            if not isinstance(patch, (list, dict)):
                raise Problem("invalid_body", "the patch must be a json patch list or a merge patch object")
            return patch
        out: Dict[str, Any] = {}
        for k, old in args.items():
            field = "arg." + k
            if field not in form:
                continue
            raw = form[field]
            if isinstance(old, str):
                new: Any = raw
            else:
                try:
                    new = json.loads(raw)
                except ValueError:
                    raise Problem("invalid_body", f"`{k}` must be json (it is not a string argument)") from None
            if new != old or type(new) is not type(old):
                out[k] = new
        return out

    async def style(self, request: Request) -> Response:
        """GET /inbox/static/style.css."""
        return FileResponse(str(HERE / "static" / "style.css"), media_type="text/css",
                            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})


def inbox_routes() -> List[Route]:
    """The inbox's routes, mounted at /inbox."""
    ib = Inbox()
    return [
        Route("/", ib.home, methods=["GET"]),
        Route("/login", ib.login, methods=["POST"]),
        Route("/logout", ib.logout, methods=["POST"]),
        Route("/oidc/start", ib.oidc_start, methods=["GET"]),
        Route("/oidc/callback", ib.oidc_callback, methods=["GET"]),
        Route("/drafts/{id}", ib.draft, methods=["GET"]),
        Route("/drafts/{id}/{verb}", ib.act, methods=["POST"]),
        Route("/static/style.css", ib.style, methods=["GET"]),
    ]


_ = run_in_threadpool
