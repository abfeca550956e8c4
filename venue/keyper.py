"""One keyper as a running process (``sealbatch keyper run``; docs/threshold.md).

A :class:`Keyper` holds one key file and talks to one venue:

* **Deal ahead.** For each of the next ``lead`` batches after the one
  collecting now, it deals a fresh Feldman polynomial
  (:func:`~sealbatch.crypto.threshold.deal`, derived from its seed), encrypts
  share ``j`` to keyper ``j``'s public key, signs the dealing and posts it to
  ``POST /v1/keypers/dealings`` before the batch's complaint round.
* **Complain and answer.** For the batches whose round is still open
  (``GET /v1/keypers/rounds/{b}``) it opens and checks every share dealt to it
  and posts a signed complaint against a dealer whose share does not verify
  (``POST /v1/keypers/complaints``); it answers every complaint against itself
  with the share in the clear (``POST /v1/keypers/answers``).
* **Release after the seal.** It follows the venue's stream (topic ``keys``,
  with the stream's gap healing). For each ``seal`` message whose operator
  signature checks out, it fetches the batch's key and dealings, decrypts the
  shares dealt to it, checks each against its dealer's commitments, sums them
  into its share of the batch secret, checks that against the batch key and
  posts it signed to ``POST /v1/keypers/shares``. It never releases a share of
  a batch without a valid seal.
* **Serve.** Its own HTTP endpoint on loopback: ``GET /healthz``,
  ``GET /v1/status`` (its index, address, the batches it dealt for and
  released) and ``GET /v1/shares/{batch_id}`` (a share it released; 404 before).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from sealbatch.crypto.eip712 import (
    Eip712Domain,
    recover_signer,
    sign_digest,
    signing_digest,
)
from sealbatch.crypto.exceptions import SealbatchError, SignatureError
from sealbatch.crypto.threshold import (
    CURVE_ORDER,
    BadShare,
    Dealing,
    DecryptionFailed,
    deal,
    verify_share,
)
from sealbatch.venue.committee import (
    ANSWER_TYPE,
    COMPLAINT_TYPE,
    DEALING_TYPE,
    KEY_SHARE_TYPE,
    SEAL_TYPE,
    Committee,
    KeyperKey,
    dealing_hash,
    decrypt_share,
    encrypt_share,
)
from sealbatch.venue.errors import VenueError
from sealbatch.venue.key_book import ANSWERS_LEAD, COMPLAINTS_LEAD, DEALINGS_LEAD

__all__ = ["Keyper", "KeyperRefused", "KeyperStopped"]

log = logging.getLogger("sealbatch.keyper")


class KeyperRefused(VenueError):
    """The keyper will not release: a bad seal, or a dealing share that does not verify."""

    code = "keyper_refused"


class KeyperStopped(VenueError):
    """A loop of the keyper ended on an error it does not retry: the keyper stops (and
    says why) rather than run on, serving its status while it deals or releases nothing."""

    code = "keyper_stopped"


def _check_venue_url(venue_url: str) -> None:
    """Refuse a venue URL no request could reach, before the keyper starts: its loops only
    log a venue that does not answer (and retry), so a URL that can never work would leave
    a keyper running that deals nothing, silently (an out-of-range port even ends them).

    Raises:
        KeyperRefused: not ``http://`` or ``https://`` with a host, or a port outside 1 to 65535.
    """
    expected = "expected an http:// or https:// URL with a host and a port from 1 to 65535"
    try:
        url = httpx.URL(venue_url)
        port = url.port
    except (httpx.InvalidURL, ValueError):
        raise KeyperRefused(f"venue: {expected}, got {venue_url!r}") from None
    if (
        url.scheme not in ("http", "https")
        or not url.host
        or not (port is None or 0 < port < 65536)
    ):
        raise KeyperRefused(f"venue: {expected}, got {venue_url!r}")


def _h(b: bytes) -> str:
    return "0x" + b.hex()


class Keyper:
    """One keyper (see the module docstring).

    Args:
        key: its key file.
        committee: the committee it belongs to (its index must name its key).
        venue_url: the venue's HTTP base URL.
        lead: how many batches ahead it deals.

    Raises:
        KeyperRefused: the key is not the committee's keyper of that index, ``lead`` is out
            of range, or ``venue_url`` is no URL a request could reach.
    """

    def __init__(self, key: KeyperKey, committee: Committee, venue_url: str, lead: int = 6) -> None:
        member = committee.member(key.index)
        if member.address != key.address:
            raise KeyperRefused(
                f"key file: expected keyper {key.index}'s address {member.address}, got "
                f"{key.address}"
            )
        if not DEALINGS_LEAD <= lead <= 16:
            raise KeyperRefused(f"lead: expected {DEALINGS_LEAD} to 16 batches, got {lead}")
        _check_venue_url(venue_url)
        self.key = key
        self.committee = committee
        self.venue_url = venue_url.rstrip("/")
        self.lead = lead
        self.dealt: set[int] = set()
        self.released: dict[int, int] = {}
        self.refused: dict[int, str] = {}
        #: batch -> dealers this keyper complained about
        self.complained: dict[int, set[int]] = {}
        #: batch -> keypers whose complaints against this keyper it answered
        self.answered: dict[int, set[int]] = {}
        self._info: dict[str, Any] | None = None
        self._http: httpx.AsyncClient | None = None

    # ------------------------------------------------------------ venue

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.venue_url, timeout=5.0)
        return self._http

    async def info(self) -> dict[str, Any]:
        """The venue's ``/v1/info`` (domain, operator, schedule), fetched once."""
        if self._info is None:
            r = await self.http.get("/v1/info")
            r.raise_for_status()
            self._info = r.json()
        return self._info

    async def domain(self) -> Eip712Domain:
        d = (await self.info())["domain"]
        return Eip712Domain(d["name"], d["version"], d["chainId"], d["verifyingContract"])

    # ------------------------------------------------------------ dealing

    def _dealing(self, batch_id: int) -> Dealing:
        c = self.committee
        return deal(self.key.seed, self.key.index, batch_id, c.threshold, c.size)

    def dealt_shares(self, batch_id: int) -> list[int]:
        """The shares this keyper deals for ``batch_id`` (entry ``j - 1`` to keyper ``j``),
        as its dealing encrypts them: ``f(j)``. The one place a dealing's shares come
        from (a test keyper that deals a bad share overrides it)."""
        return list(self._dealing(batch_id).shares)

    async def dealing_body(self, batch_id: int) -> dict[str, Any]:
        """This keyper's signed dealing for ``batch_id`` (the wire form of ``DealingIn``)."""
        c = self.committee
        d = self._dealing(batch_id)
        values_in = self.dealt_shares(batch_id)
        shares = [
            encrypt_share(m.public_key, batch_id, self.key.index, m.index, values_in[m.index - 1])
            for m in c.members
        ]
        values = {
            "keyper": self.key.address,
            "batchId": batch_id,
            "dealer": self.key.index,
            "dealingHash": dealing_hash(batch_id, self.key.index, d.commitments, shares),
        }
        sig = sign_digest(
            self.key.secret, signing_digest(await self.domain(), DEALING_TYPE, values)
        )
        return {
            "keyper": self.key.address,
            "batch_id": batch_id,
            "dealer": self.key.index,
            "commitments": [_h(x) for x in d.commitments],
            "shares": [_h(x) for x in shares],
            "signature": _h(sig),
        }

    async def deal_ahead(self) -> list[int]:
        """Deal for the next ``lead`` batches not dealt yet; returns those the venue took."""
        r = await self.http.get("/v1/keypers")
        r.raise_for_status()
        collecting = int(r.json()["collecting"])
        taken = []
        for b in range(collecting + DEALINGS_LEAD, collecting + 1 + self.lead):
            if b in self.dealt:
                continue
            resp = await self.http.post("/v1/keypers/dealings", json=await self.dealing_body(b))
            code = resp.json().get("code") if resp.status_code != 200 else None
            if resp.status_code == 200 or code in ("duplicate_dealing", "dealing_late"):
                self.dealt.add(b)
                if resp.status_code == 200:
                    taken.append(b)
            else:
                log.warning("dealing for batch %d refused: %s", b, resp.text[:200])
        self.dealt = {b for b in self.dealt if b > collecting - 64}
        return taken

    # ------------------------------------------------------------ complaints

    def share_from(self, batch_id: int, dealing: dict[str, Any]) -> int:
        """Open and check the share ``dealing`` (a round's dealing) deals to this keyper.

        Raises:
            DecryptionFailed: it does not open; BadShare: it does not verify.
        """
        dealer = int(dealing["dealer"])
        commitments = [bytes.fromhex(c[2:]) for c in dealing["commitments"]]
        ct = bytes.fromhex(dealing["shares"][self.key.index - 1][2:])
        value = decrypt_share(self.key, batch_id, dealer, ct)
        verify_share(commitments, self.key.index, value)
        return value

    async def complaint_body(self, batch_id: int, dealer: int) -> dict[str, Any]:
        """The signed ``KeyperComplaint`` wire form (against ``dealer``'s share to this keyper)."""
        values = {
            "keyper": self.key.address,
            "batchId": batch_id,
            "index": self.key.index,
            "dealer": dealer,
        }
        sig = sign_digest(
            self.key.secret, signing_digest(await self.domain(), COMPLAINT_TYPE, values)
        )
        return {
            "keyper": self.key.address,
            "batch_id": batch_id,
            "index": self.key.index,
            "dealer": dealer,
            "signature": _h(sig),
        }

    def dealt_share(self, batch_id: int, index: int) -> int:
        """The share ``f(index)`` this keyper deals keyper ``index`` for ``batch_id``."""
        return self._dealing(batch_id).shares[index - 1]

    def answer_share(self, batch_id: int, index: int) -> int | None:
        """The share it reveals answering keyper ``index``'s complaint: ``f(index)`` (None:
        no answer; a test keyper that answers otherwise overrides it)."""
        return self.dealt_share(batch_id, index)

    async def answer_body(self, batch_id: int, index: int, share: int) -> dict[str, Any]:
        """The signed ``ComplaintAnswer`` wire form: ``share`` revealed to keyper ``index``."""
        raw = share.to_bytes(32, "big")
        values = {
            "keyper": self.key.address,
            "batchId": batch_id,
            "dealer": self.key.index,
            "index": index,
            "share": raw,
        }
        sig = sign_digest(self.key.secret, signing_digest(await self.domain(), ANSWER_TYPE, values))
        return {
            "keyper": self.key.address,
            "batch_id": batch_id,
            "dealer": self.key.index,
            "index": index,
            "share": _h(raw),
            "signature": _h(sig),
        }

    async def check_round(self, batch_id: int, collecting: int) -> None:
        """Complain about bad shares dealt to this keyper and answer complaints against it,
        for one batch whose round is still open."""
        r = await self.http.get(f"/v1/keypers/rounds/{batch_id}")
        r.raise_for_status()
        doc = r.json()
        mine = self.complained.setdefault(batch_id, set())
        mine.update(
            int(c["dealer"]) for c in doc["complaints"] if int(c["index"]) == self.key.index
        )
        if batch_id - collecting >= COMPLAINTS_LEAD:
            for d in doc["dealings"]:
                dealer = int(d["dealer"])
                if dealer == self.key.index or dealer in mine:
                    continue
                try:
                    self.share_from(batch_id, d)
                except (DecryptionFailed, BadShare) as exc:
                    log.error(
                        "batch %d: dealer %d's share does not verify (%s): complaining",
                        batch_id,
                        dealer,
                        exc,
                    )
                    resp = await self.http.post(
                        "/v1/keypers/complaints", json=await self.complaint_body(batch_id, dealer)
                    )
                    if resp.status_code == 200 or resp.json().get("code") == "duplicate_complaint":
                        mine.add(dealer)
        if batch_id - collecting >= ANSWERS_LEAD:
            done = self.answered.setdefault(batch_id, set())
            done.update(
                int(a["index"]) for a in doc["answers"] if int(a["dealer"]) == self.key.index
            )
            for c in doc["complaints"]:
                index = int(c["index"])
                if int(c["dealer"]) != self.key.index or index in done:
                    continue
                share = self.answer_share(batch_id, index)
                if share is None:
                    continue
                body = await self.answer_body(batch_id, index, share)
                resp = await self.http.post("/v1/keypers/answers", json=body)
                if resp.status_code == 200 or resp.json().get("code") == "duplicate_answer":
                    done.add(index)

    async def check_rounds(self) -> None:
        """:meth:`check_round` for every batch whose round is open (complaints or answers)."""
        r = await self.http.get("/v1/keypers")
        r.raise_for_status()
        collecting = int(r.json()["collecting"])
        for b in range(collecting + ANSWERS_LEAD, collecting + DEALINGS_LEAD + 1):
            await self.check_round(b, collecting)
        for book in (self.complained, self.answered):
            for b in [b for b in book if b < collecting]:
                del book[b]

    # ------------------------------------------------------------ release

    async def check_seal(self, seal: dict[str, Any]) -> int:
        """The batch id of a seal signed by the venue's operator.

        Raises:
            KeyperRefused: the seal is malformed or not the operator's.
        """
        info = await self.info()
        try:
            values = {
                "operator": seal["operator"],
                "batchId": int(seal["batch_id"]),
                "commitmentRoot": bytes.fromhex(str(seal["commitment_root"])[2:]),
                "commitments": int(seal["commitments"]),
            }
            signer = recover_signer(
                signing_digest(await self.domain(), SEAL_TYPE, values),
                bytes.fromhex(str(seal["signature"])[2:]),
            )
        except (KeyError, TypeError, ValueError, SignatureError) as exc:
            raise KeyperRefused(f"seal: expected a signed BatchSeal, got {exc}") from exc
        if signer != info["operator"]:
            raise KeyperRefused(f"seal: expected the operator {info['operator']}, got {signer}")
        return int(seal["batch_id"])

    async def my_share(self, batch_id: int) -> int:
        """This keyper's share of ``batch_id``'s secret, from the dealings the venue took.

        Raises:
            KeyperRefused: a dealer's share to this keyper does not open or does not
                verify against that dealer's commitments (naming the dealer), or the
                sum does not verify against the batch key.
        """
        r = await self.http.get(f"/v1/batches/{batch_id}/key")
        r.raise_for_status()
        doc = r.json()
        revealed = {
            int(a["dealer"]): int(a["share"], 16)
            for a in doc["answers"]
            if int(a["index"]) == self.key.index and a["valid"]
        }
        qualified = {int(i) for i in doc["dealers"]}
        total = 0
        for d in doc["dealings"]:
            dealer = int(d["dealer"])
            if dealer not in qualified:
                continue
            if dealer in revealed:
                total = (total + revealed[dealer]) % CURVE_ORDER
                continue
            try:
                value = self.share_from(batch_id, d)
            except (DecryptionFailed, BadShare) as exc:
                raise KeyperRefused(
                    f"batch {batch_id}: dealer {dealer}'s share to keyper {self.key.index} "
                    f"does not verify ({exc})"
                ) from exc
            total = (total + value) % CURVE_ORDER
        key_commitments = [bytes.fromhex(c[2:]) for c in doc["commitments"]]
        try:
            verify_share(key_commitments, self.key.index, total)
        except BadShare as exc:
            raise KeyperRefused(f"batch {batch_id}: the summed share does not verify") from exc
        return total

    async def share_body(self, batch_id: int, share: int) -> dict[str, Any]:
        """The signed ``KeyShare`` wire form."""
        raw = share.to_bytes(32, "big")
        values = {
            "keyper": self.key.address,
            "batchId": batch_id,
            "index": self.key.index,
            "share": raw,
        }
        sig = sign_digest(
            self.key.secret, signing_digest(await self.domain(), KEY_SHARE_TYPE, values)
        )
        return {
            "keyper": self.key.address,
            "batch_id": batch_id,
            "index": self.key.index,
            "share": _h(raw),
            "signature": _h(sig),
        }

    async def release(self, seal: dict[str, Any]) -> bool:
        """Release this keyper's share of a sealed batch; False when already released.

        Raises:
            KeyperRefused: see :meth:`check_seal` and :meth:`my_share`.
        """
        batch_id = await self.check_seal(seal)
        if batch_id in self.released:
            return False
        share = await self.my_share(batch_id)
        resp = await self.http.post(
            "/v1/keypers/shares", json=await self.share_body(batch_id, share)
        )
        code = resp.json().get("code") if resp.status_code != 200 else None
        if resp.status_code != 200 and code not in (
            "duplicate_share",
            "batch_opened",
            "batch_cleared",
        ):
            log.warning("share of batch %d refused: %s", batch_id, resp.text[:200])
            return False
        self.released[batch_id] = share
        while len(self.released) > 256:
            del self.released[min(self.released)]
        return True

    # ------------------------------------------------------------ loops

    async def deal_loop(self) -> None:
        """Deal ahead, complain and answer every quarter of a commit window, for ever."""
        while True:
            try:
                await self.deal_ahead()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning("dealing: the venue did not answer (%s)", exc)
            try:
                await self.check_rounds()
            except (httpx.HTTPError, ValueError, KeyError, SealbatchError) as exc:
                log.warning("complaints: the venue did not answer (%s)", exc)
            info = await self._info_or_none()
            window = int(info["schedule"]["commit_window_ms"]) if info else 1000
            await asyncio.sleep(max(0.01, window / 4000))

    async def _info_or_none(self) -> dict[str, Any] | None:
        try:
            return await self.info()
        except (httpx.HTTPError, ValueError):
            return None

    async def seal_loop(self) -> None:
        """Follow the ``keys`` topic and release after every valid seal, for ever."""
        from sealbatch.venue.stream_client import StreamClient

        stream = StreamClient(self.venue_url, ["keys"])
        async for msg in stream.messages():
            if msg["type"] == "snapshot":
                seals = list(msg["data"].get("seals", []))
            elif msg["type"] == "seal":
                seals = [msg["data"]]
            else:
                continue
            for seal in seals:
                try:
                    await self.release(seal)
                except KeyperRefused as exc:
                    self.refused[int(seal.get("batch_id", -1))] = str(exc)
                    log.error("not releasing: %s", exc)
                except (httpx.HTTPError, ValueError, KeyError, SealbatchError) as exc:
                    log.warning("release of batch %s failed: %s", seal.get("batch_id"), exc)

    def status(self) -> dict[str, Any]:
        """What ``GET /v1/status`` answers."""
        return {
            "index": self.key.index,
            "address": self.key.address,
            "public_key": _h(self.key.public_key),
            "threshold": self.committee.threshold,
            "size": self.committee.size,
            "venue": self.venue_url,
            "dealt": sorted(self.dealt)[-32:],
            "released": sorted(self.released)[-32:],
            "refused": {str(b): why for b, why in sorted(self.refused.items())[-32:]},
            "complained": {str(b): sorted(d) for b, d in sorted(self.complained.items()) if d},
            "answered": {str(b): sorted(d) for b, d in sorted(self.answered.items()) if d},
        }

    def app(self) -> Any:
        """The keyper's own HTTP endpoint (FastAPI)."""
        from fastapi import FastAPI, HTTPException

        app = FastAPI(title=f"sealbatch keyper {self.key.index}", docs_url=None, redoc_url=None)

        @app.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/v1/status")
        async def status() -> dict[str, Any]:
            return self.status()

        @app.get("/v1/shares/{batch_id}")
        async def share(batch_id: int) -> dict[str, Any]:
            value = self.released.get(batch_id)
            if value is None:
                raise HTTPException(404, f"batch {batch_id}: no share released (yet)")
            return {
                "batch_id": batch_id,
                "index": self.key.index,
                "share": _h(value.to_bytes(32, "big")),
            }

        return app

    async def run(self, host: str, port: int, lifetime_s: float | None = None) -> None:
        """Serve the endpoint and run both loops until ``lifetime_s`` passes (or for ever)."""
        import uvicorn

        server = uvicorn.Server(
            uvicorn.Config(self.app(), host=host, port=port, log_level="warning", access_log=False)
        )
        tasks = [
            asyncio.ensure_future(server.serve()),
            asyncio.ensure_future(self.deal_loop()),
            asyncio.ensure_future(self.seal_loop()),
        ]
        loops = {tasks[1]: "dealing", tasks[2]: "release"}
        start = time.monotonic()
        stopped: KeyperStopped | None = None
        try:
            while not tasks[0].done():
                if lifetime_s is not None and time.monotonic() - start >= lifetime_s:
                    break
                ended = [t for t in loops if t.done()]
                if ended:  # the loops run for ever: one that ended failed
                    exc = None if ended[0].cancelled() else ended[0].exception()
                    log.error("the %s loop stopped", loops[ended[0]], exc_info=exc)
                    stopped = KeyperStopped(
                        f"the {loops[ended[0]]} loop stopped: "
                        + (f"{type(exc).__name__}: {exc}" if exc else "it returned")
                    )
                    break
                await asyncio.sleep(0.1)
        finally:
            server.should_exit = True
            for t in tasks[1:]:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._http is not None:
                await self._http.aclose()
        if stopped is not None:
            raise stopped
