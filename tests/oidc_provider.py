"""A small OpenID Connect provider on 127.0.0.1 for the inbox's sign-in tests: discovery, an authorization
endpoint that signs in whoever the test says (no login form), a token endpoint that checks the code, the
redirect URI and the PKCE verifier (S256) and issues an RS256 ID token. Codes are single-use."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "signoff-inbox"


class Provider:
    """`url` is the issuer; `user` the claims of whoever signs in next (None: the person cancels);
    `tamper` changes the ID token's claims (a wrong nonce, another audience)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.user: Optional[Dict[str, Any]] = {"sub": "olga", "groups": ["finance_manager"], "org": "acme"}
        self.tamper: Dict[str, Any] = {}
        self.codes: Dict[str, Dict[str, str]] = {}
        self.token_requests = 0
        prov = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                u = urlsplit(self.path)
                if u.path == "/.well-known/openid-configuration":
                    return self._json(200, {"issuer": prov.url, "authorization_endpoint": prov.url + "/authorize",
                                            "token_endpoint": prov.url + "/token", "jwks_uri": prov.url + "/jwks"})
                if u.path != "/authorize":
                    return self._json(404, {"error": "not_found"})
                q = {k: v[-1] for k, v in parse_qs(u.query).items()}
                if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256" \
                        or q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
                    return self._json(400, {"error": "invalid_request"})
                back = q["redirect_uri"]
                if prov.user is None:
                    args = {"error": "access_denied", "state": q.get("state", "")}
                else:
                    code = secrets.token_urlsafe(16)
                    prov.codes[code] = {"challenge": q["code_challenge"], "nonce": q.get("nonce", ""),
                                        "redirect_uri": back}
                    args = {"code": code, "state": q.get("state", "")}
                self.send_response(302)
                self.send_header("Location", back + "?" + urlencode(args))
                self.end_headers()

            def do_POST(self) -> None:
                prov.token_requests += 1
                n = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(n).decode()).items()}
                grant = prov.codes.pop(form.get("code", ""), None)    # single use
                if self.path != "/token" or grant is None or form.get("redirect_uri") != grant["redirect_uri"] \
                        or form.get("client_id") != CLIENT_ID or form.get("grant_type") != "authorization_code":
                    return self._json(400, {"error": "invalid_grant"})
                verifier = form.get("code_verifier", "")
                expect = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if expect != grant["challenge"]:
                    return self._json(400, {"error": "invalid_grant"})
                now = int(time.time())
                claims = dict(prov.user or {}, iss=prov.url, aud=CLIENT_ID, iat=now, exp=now + 600,
                              nonce=grant["nonce"])
                claims.update(prov.tamper)
                tok = jwt.encode(claims, prov.key, algorithm="RS256", headers={"kid": "idp1"})
                return self._json(200, {"id_token": tok, "access_token": "at", "token_type": "Bearer"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def jwks(self) -> Dict[str, Any]:
        """The provider's public keys, as a JWKS document."""
        d = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [dict(d, kid="idp1", use="sig", alg="RS256")]}

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
