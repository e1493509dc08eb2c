"""The simulator's state and operations: accounts and auth, mailbox content and its change
logs, delta sync, records, subscriptions, faults, statistics. Every public method takes the
one lock; the data structures and the delta model are described in model.py.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import itertools
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any

from brightsync.sandbox.aurinko import records as R
from brightsync.sandbox.aurinko.model import (
    DEFAULT_CODES,
    SERVICES,
    Account,
    Cursor,
    Fault,
    Item,
    Stats,
    Subscription,
    SyncSession,
    etag_of,
    norm_etag,
)
from brightsync.sandbox.aurinko.records import ApiFailure, bad_request, not_found
from brightsync.sandbox.aurinko.webhooks import WebhookDispatcher
from brightsync.sandbox.server import MAX_LATENCY_MS, checked_latency

_CALENDAR_RESOURCE = re.compile(r"^/calendars/([^/]+)/events$")
_TASKS_RESOURCE = re.compile(r"^/tasklists/([^/]+)/tasks$")


class AurinkoSimulator:
    def __init__(
        self,
        *,
        signing_secret: str | None = None,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        page_size: int = 50,
        webhook_debounce: float = 0.05,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.2,
        handshake_timeout: float = 10.0,
        latency_ms: float = 0.0,
    ) -> None:
        self.lock = threading.RLock()
        self.signing_secret = signing_secret
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.webhook_debounce = webhook_debounce
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.handshake_timeout = handshake_timeout
        # Every /v1 answer waits this long, like the real API across the network.
        self.latency_ms = checked_latency(latency_ms)
        self.webhooks = WebhookDispatcher(self)
        self._clear()

    def _clear(self) -> None:
        self.accounts: dict[int, Account] = {}
        self.by_token: dict[str, int] = {}
        # address -> account ids: delivering a message costs its recipients, not every account.
        self.by_email: dict[str, list[int]] = {}
        self.sessions: dict[str, SyncSession] = {}
        self.tokens: dict[str, Cursor] = {}
        self._delta_tokens: dict[tuple[str, str, int, int], str] = {}
        self.subscriptions: dict[int, Subscription] = {}
        self.faults: list[Fault] = []
        self.stats = Stats()
        self.requests: deque[dict[str, Any]] = deque(maxlen=10000)
        self._account_ids = itertools.count(1)
        self._subscription_ids = itertools.count(1)
        self._fault_ids = itertools.count(1)
        self._record_ids = itertools.count(1)

    def reset(self) -> None:
        with self.lock:
            self._clear()
        self.webhooks.reset()

    def settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        names = {
            "pageSize": ("page_size", int),
            "webhookDebounce": ("webhook_debounce", float),
            "webhookAttempts": ("webhook_attempts", int),
            "webhookRetryDelay": ("webhook_retry_delay", float),
            "handshakeTimeout": ("handshake_timeout", float),
            "latencyMs": ("latency_ms", checked_latency),
        }
        changes = {}
        for key, value in values.items():
            if key not in names:
                raise bad_request(f"unknown setting {key!r}")
            attr, kind = names[key]
            try:
                changes[attr] = kind(value)
            except (TypeError, ValueError):
                within = f" from 0 to {MAX_LATENCY_MS:g}" if key == "latencyMs" else ""
                raise bad_request(f"{key} must be a number{within}") from None
            if changes[attr] < (1 if key in ("pageSize", "webhookAttempts") else 0):
                raise bad_request(f"{key} is too small")
        with self.lock:
            for attr, value in changes.items():
                setattr(self, attr, value)
            return {key: getattr(self, attr) for key, (attr, _) in names.items()}

    # --- accounts and auth ------------------------------------------------------------------

    def create_account(
        self, email: str, name: str | None = None, provider: str = "google", **options: Any
    ) -> Account:
        if not email or "@" not in email:
            raise bad_request("email must be an address")
        if provider not in R.PROVIDERS:
            raise bad_request("provider must be one of " + ", ".join(R.PROVIDERS))
        with self.lock:
            account_id = next(self._account_ids)
            token = options.pop("accessToken", None) or secrets.token_urlsafe(32)
            if token in self.by_token:
                raise bad_request("accessToken already in use")
            account = Account(
                id=account_id,
                email=email.strip(),
                name=name or email.split("@")[0],
                provider=provider,
                access_token=token,
                created=time.time(),
                # Google names a user's primary calendar after the address.
                primary_calendar=(
                    email.strip() if provider == "google" else self._new_id(provider, "calendar")
                ),
                default_task_list=self._new_id(provider, "tasklist"),
            )
            self.accounts[account_id] = account
            self.by_token[token] = account_id
            self.by_email.setdefault(account.email.lower(), []).append(account_id)
            self.configure_account(account_id, options)
            return account

    def configure_account(self, account_id: int, options: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self._configure_account(account_id, options)
        except (TypeError, ValueError):
            raise bad_request("account settings must be whole numbers") from None

    def _configure_account(self, account_id: int, options: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            account = self.account(account_id)
            for key, value in options.items():
                if key == "notReadyStarts":
                    if isinstance(value, dict):
                        for service, count in value.items():
                            if service not in SERVICES:
                                raise bad_request(f"unknown service {service!r}")
                            account.not_ready[service] = int(count)
                    else:
                        account.not_ready = {s: int(value) for s in SERVICES}
                elif key == "threadIdDelay":
                    account.thread_id_delay = int(value)
                elif key == "retryAfter":
                    account.retry_after = int(value)
                elif key == "tokenStatus":
                    self.set_token_status(account_id, value)
                else:
                    raise bad_request(f"unknown account setting {key!r}")
            return {
                "notReadyStarts": dict(account.not_ready),
                "threadIdDelay": account.thread_id_delay,
                "retryAfter": account.retry_after,
            }

    def account(self, account_id: int | str) -> Account:
        try:
            account = self.accounts.get(int(account_id))
        except (TypeError, ValueError):
            account = None
        if account is None:
            raise not_found(f"account {account_id}")
        return account

    def set_token_status(self, account_id: int, status: str) -> None:
        if status not in ("active", "invalid", "dead"):
            raise bad_request("status must be active, invalid or dead")
        with self.lock:
            self.account(account_id).token_status = status

    def expire_tokens(self, account_id: int, mode: str = "410") -> None:
        if str(mode) not in ("410", "400"):
            raise bad_request('mode must be "410" or "400"')
        with self.lock:
            account = self.account(account_id)
            account.generation += 1
            account.expire_mode = str(mode)

    def identify(self, headers: Mapping[str, str]) -> int | None:
        """The account a request is about, without judging its credentials (for statistics)."""
        scheme, _, cred = (headers.get("Authorization") or "").partition(" ")
        with self.lock:
            if scheme.lower() == "bearer":
                return self.by_token.get(cred.strip())
        raw = headers.get("X-Aurinko-Account-Id")
        try:
            return int(raw) if raw else None
        except ValueError:
            return None

    def authenticate(self, headers: Mapping[str, str], *, allow_dead: bool = False) -> Account:
        unauthorized = ApiFailure(401, "unauthorized", "unauthorized")
        scheme, _, cred = (headers.get("Authorization") or "").partition(" ")
        scheme, cred = scheme.lower(), cred.strip()
        with self.lock:
            if scheme == "bearer" and cred:
                account_id = self.by_token.get(cred)
                if account_id is None:
                    raise unauthorized
                account = self.accounts[account_id]
            elif scheme == "basic" and cred:
                try:
                    user, _, password = base64.b64decode(cred).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    raise unauthorized from None
                ok_user = hmac.compare_digest(user.encode(), self.client_id.encode())
                ok_pass = hmac.compare_digest(password.encode(), self.client_secret.encode())
                if not (ok_user and ok_pass):
                    raise unauthorized
                raw = headers.get("X-Aurinko-Account-Id")
                if not raw:
                    raise bad_request("X-Aurinko-Account-Id is required with app credentials")
                try:
                    account = self.account(raw)
                except ApiFailure:
                    raise ApiFailure(401, "unauthorized", f"unknown account {raw}") from None
            else:
                raise unauthorized
            if not allow_dead:
                if account.token_status == "dead":
                    raise ApiFailure(401, "token.dead", "Not authorized")
                if account.token_status == "invalid":
                    raise ApiFailure(
                        401, "token.refresh.failed", "Invalid data: refreshToken missing"
                    )
            return account

    def account_json(self, account: Account) -> dict[str, Any]:
        service_type, service_provider = R.PROVIDERS[account.provider]
        return {
            "id": account.id,
            "serviceType": service_type,
            "serviceProvider": service_provider,
            "active": True,
            "tokenStatus": account.token_status,
            "type": "personal",
            "daemon": False,
            "loginString": account.email,
            "email": account.email,
            "mailboxAddress": account.email,
            "name": account.name,
            "authScopes": [
                "Mail.Read",
                "Calendar.ReadWrite",
                "Contacts.ReadWrite",
                "Tasks.ReadWrite",
            ],
            "createdAt": R.iso(account.created),
            "updatedAt": R.iso(account.created),
        }

    # --- statistics, request log, faults ----------------------------------------------------

    def record_request(
        self,
        op: str,
        account_id: int | None,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
    ) -> dict[str, Any]:
        now = time.time()
        entry = {
            "t": now,
            "method": method,
            "path": path,
            "query": query,
            "op": op,
            "accountId": account_id,
            "json": body,
            "status": None,
        }
        with self.lock:
            self.stats.total += 1
            self.stats.by_operation[op] += 1
            if account_id is not None:
                self.stats.by_account[str(account_id)][op] += 1
            self.stats.by_second[str(int(now))] += 1
            self.requests.append(entry)
        return entry

    def record_status(self, entry: dict[str, Any], status: int) -> None:
        with self.lock:
            entry["status"] = status
            self.stats.by_status[str(status)] += 1

    def add_fault(self, spec: Mapping[str, Any]) -> Fault:
        """{pathPrefix (or path), method?, status?, count (default 1, null: until removed),
        retryAfter?, delay? (seconds before answering), accountId?, code?, message?}"""
        try:
            status = None if spec.get("status") is None else int(spec["status"])
            delay = float(spec.get("delay") or 0)
            count = spec.get("count", 1)
            count = None if count is None else int(count)
            retry_after = None if spec.get("retryAfter") is None else float(spec["retryAfter"])
            account_id = int(spec["accountId"]) if spec.get("accountId") else None
        except (TypeError, ValueError):
            raise bad_request("status, count, retryAfter, delay, accountId: numbers") from None
        if status is None and delay <= 0:
            raise bad_request("a fault needs a status or a delay")
        if status is not None and not 400 <= status <= 599:
            raise bad_request("status must be a 4xx or 5xx code")
        with self.lock:
            fault = Fault(
                id=next(self._fault_ids),
                path_prefix=spec.get("pathPrefix") or spec.get("path") or "/v1/",
                method=(spec.get("method") or "").upper() or None,
                status=status,
                count=count,
                retry_after=retry_after,
                delay=delay,
                account_id=account_id,
                code=spec.get("code"),
                message=spec.get("message"),
            )
            self.faults.append(fault)
            return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def take_fault(self, path: str, method: str, account_id: int | None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if not path.startswith(fault.path_prefix):
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.account_id is not None and fault.account_id != account_id:
                    continue
                fault.served += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                return copy.copy(fault)
        return None

    @staticmethod
    def fault_failure(fault: Fault) -> ApiFailure:
        assert fault.status is not None
        headers = {}
        if fault.retry_after is not None:
            value = fault.retry_after
            headers["Retry-After"] = str(int(value) if value.is_integer() else value)
        return ApiFailure(
            fault.status,
            fault.code or DEFAULT_CODES.get(fault.status, "error"),
            fault.message or f"simulated failure ({fault.status})",
            headers=headers,
        )

    # --- ids and collections ----------------------------------------------------------------

    def _new_id(self, provider: str, kind: str) -> str:
        """A provider-looking id, unique in this simulator (each mailbox copy has its own)."""
        n = next(self._record_ids)
        if provider == "google":
            if kind in ("message", "thread"):
                base = 0x18C2A00000000000 if kind == "message" else 0x18C2B00000000000
                return format(base + n * 977, "x")
            if kind == "calendar":
                return f"c{n}@group.calendar.google.com"
            raw = n.to_bytes(6, "big") + secrets.token_bytes(9)
            return base64.b32encode(raw).decode().lower().rstrip("=")
        if provider == "office365":
            prefix = {"message": "AAMkAGM", "thread": "AAQkAGM", "calendar": "AAMkAGC"}
            raw = n.to_bytes(6, "big") + secrets.token_bytes(12)
            return prefix.get(kind, "AAMkAGE") + base64.urlsafe_b64encode(raw).decode()
        return f"{kind}-{n}"

    def feed_key(self, account: Account, service: str, container: str | None = None) -> str:
        if service == "calendar":
            cal = container or "primary"
            if cal not in ("primary", account.primary_calendar):
                raise not_found(f"calendar {cal}")
            return f"calendar:{account.primary_calendar}"
        if service == "tasks":
            lst = container or "default"
            if lst not in ("default", account.default_task_list):
                raise not_found(f"task list {lst}")
            return f"tasks:{account.default_task_list}"
        return service

    def resource_feed(self, account: Account, resource: str) -> str | None:
        if resource == "/email/messages":
            return "email"
        if resource == "/contacts":
            return "contacts"
        for pattern, service in ((_CALENDAR_RESOURCE, "calendar"), (_TASKS_RESOURCE, "tasks")):
            match = pattern.match(resource)
            if match:
                try:
                    return self.feed_key(account, service, match.group(1))
                except ApiFailure:
                    return None
        return None

    def calendars(self, account: Account) -> list[dict[str, Any]]:
        return [
            {
                "id": account.primary_calendar,
                "name": account.email,
                "primary": True,
                "accessRole": "owner",
            }
        ]

    def task_lists(self, account: Account) -> list[dict[str, Any]]:
        return [
            {
                "id": account.default_task_list,
                "title": "Tasks",
                "defaultList": True,
                "owner": True,
                "shared": False,
                "etag": etag_of(account.default_task_list, 1),
                "lastModifiedTime": R.iso(account.created),
            }
        ]

    # --- change notification ----------------------------------------------------------------

    def _changed(self, account: Account, feed_key: str, item: Item, change: str) -> None:
        draft = "draft" in (item.record.get("sysLabels") or [])
        for sub in self.subscriptions.values():
            if sub.account_id != account.id or not sub.active:
                continue
            if self.resource_feed(account, sub.resource) != feed_key:
                continue
            if draft and "withoutDrafts" in sub.filters:
                continue
            self.webhooks.enqueue(sub, {"id": item.id, "changeType": change})

    def _store(self, account: Account, feed_key: str, item: Item, change: str) -> None:
        feed = account.feeds[feed_key]
        feed.items[item.id] = item
        feed.stamp(item, account.next_seq())
        self._changed(account, feed_key, item, change)

    # --- sync -------------------------------------------------------------------------------

    def start_sync(
        self, account: Account, service: str, container: str | None, **params: Any
    ) -> dict[str, Any]:
        with self.lock:
            feed_key = self.feed_key(account, service, container)
            remaining = account.not_ready.get(service, 0)
            if remaining > 0:
                account.not_ready[service] = remaining - 1
                return {"ready": False}
            session = SyncSession(
                id=uuid.uuid4().hex,
                account_id=account.id,
                service=service,
                feed_key=feed_key,
                started=time.time(),
                **params,
            )
            self.sessions[session.id] = session
            return {
                "syncUpdatedToken": self._delta_token(session, "updated", 0, account.generation),
                "syncDeletedToken": self._delta_token(
                    session, "deleted", account.seq, account.generation
                ),
                "ready": True,
            }

    def _delta_token(self, session: SyncSession, kind: str, since: int, generation: int) -> str:
        key = (session.id, kind, since, generation)
        token = self._delta_tokens.get(key)
        if token is None:
            token = secrets.token_urlsafe(24)
            self._delta_tokens[key] = token
            self.tokens[token] = Cursor(session.id, kind, False, since, None, since, generation)
        return token

    def delta(
        self,
        account: Account,
        service: str,
        container: str | None,
        kind: str,
        delta_token: str | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        with self.lock:
            feed_key = self.feed_key(account, service, container)
            token = page_token or delta_token
            if not token:
                raise bad_request("deltaToken or pageToken is required")
            cursor = self.tokens.get(token)
            session = self.sessions.get(cursor.session_id) if cursor else None
            if (
                cursor is None
                or session is None
                or session.account_id != account.id
                or session.feed_key != feed_key
                or cursor.kind != kind
                or cursor.page != bool(page_token)
            ):
                raise ApiFailure(400, "token.notValid", "Page token is invalid")
            if cursor.generation != account.generation:
                if account.expire_mode == "400":
                    raise ApiFailure(400, "token.notValid", "Page token is invalid")
                raise ApiFailure(410, "syncToken.expired", "syncToken expired.")
            upto = account.seq if cursor.upto is None else cursor.upto
            feed = account.feeds[feed_key]
            records: list[dict[str, Any]] = []
            last, more = cursor.after, False
            for item in feed.scan(cursor.after, upto):
                if kind == "updated" and (item.deleted or not session.includes(item)):
                    continue
                if kind == "deleted" and not item.deleted:
                    continue
                if len(records) >= self.page_size:
                    more = True
                    break
                records.append(self._render(account, session, item, kind))
                last = item.seq
            page: dict[str, Any] = {}
            if more:
                next_page = secrets.token_urlsafe(24)
                self.tokens[next_page] = Cursor(
                    session.id, kind, True, cursor.since, upto, last, cursor.generation
                )
                page["nextPageToken"] = next_page
            else:
                page["nextDeltaToken"] = self._delta_token(session, kind, upto, cursor.generation)
            page["length"] = len(records)
            page["records"] = records
            return page

    def _render(
        self, account: Account, session: SyncSession, item: Item, kind: str
    ) -> dict[str, Any]:
        if kind == "deleted":
            out = {"id": item.id, "timestamp": R.iso(item.deleted_at)}
            if session.service == "email":
                for key in ("folderId", "internetMessageId"):
                    if item.record.get(key):
                        out[key] = item.record[key]
            return out
        if session.service == "email":
            return self._message_json(account, item, session.body_type, full=False)
        return R.clean(item.record)

    # --- email ------------------------------------------------------------------------------

    def _message_json(
        self, account: Account, item: Item, body_type: str, *, full: bool
    ) -> dict[str, Any]:
        out = R.clean(item.record)
        if item.meta.get("raw"):
            return out
        body = item.meta.get("body")
        if full or account.provider in ("google", "office365"):
            if body is not None:
                out["body"] = R.render_body(body, item.meta.get("bodyType", "html"), body_type)
        else:
            out["omitted"] = ["body"]
        if not full:
            for att in out.get("attachments") or []:
                att.pop("content", None)
        return out

    def get_message(self, account: Account, message_id: str, body_type: str) -> dict[str, Any]:
        with self.lock:
            item = account.feeds["email"].items.get(message_id)
            if item is None or item.deleted:
                raise not_found(f"message {message_id}")
            served = item.meta.get("timeouts", 0)
            if served < account.thread_id_delay:
                item.meta["timeouts"] = served + 1
                raise ApiFailure(
                    408,
                    "timeout",
                    "threadId is not yet available, retry later",
                    headers={"Retry-After": str(account.retry_after)},
                )
            return self._message_json(account, item, body_type, full=True)

    def trash_message(self, account: Account, message_id: str) -> None:
        """DELETE /v1/email/messages/{id}: the message moves to Trash (an update, not a delete)."""
        with self.lock:
            item = account.feeds["email"].items.get(message_id)
            if item is None or item.deleted:
                raise not_found(f"message {message_id}")
            labels = [x for x in item.record.get("sysLabels") or [] if x != "inbox"]
            item.record["sysLabels"] = sorted(set(labels) | {"trash"})
            item.record["folderId"] = "TRASH"
            item.record["lastModifiedTime"] = R.iso(time.time())
            self._store(account, "email", item, "updated")

    def deliver_mail(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Deliver one message into every simulated mailbox among its sender and recipients."""
        sender = R.address(data.get("from"))
        if sender is None:
            raise bad_request("from.address is required")
        to, cc, bcc = (R.addresses(data.get(k)) for k in ("to", "cc", "bcc"))
        reply_to = R.addresses(data.get("replyTo"))
        body_type = data.get("bodyType") or "html"
        if body_type not in ("html", "text"):
            raise bad_request("bodyType must be html or text")
        body = str(data.get("body") or "")
        imid = data.get("internetMessageId") or f"<{uuid.uuid4().hex}@sandbox.brightsync.test>"
        now = time.time()
        sent_at = R.parse_time(data.get("sentAt")) or now
        override = data.get("sysLabels")
        if override is not None and not set(override) <= R.SYS_LABELS:
            raise bad_request("sysLabels must be among " + ", ".join(sorted(R.SYS_LABELS)))
        if data.get("sensitivity") not in (None, "normal", "private", "personal", "confidential"):
            raise bad_request("sensitivity must be normal, private, personal or confidential")
        if data.get("meetingMessageMethod") not in (
            None,
            "request",
            "reply",
            "cancel",
            "counter",
            "other",
        ):
            raise bad_request("meetingMessageMethod must be request, reply, cancel, counter, other")
        headers = self._internet_headers(data, sender, to, cc, imid, sent_at)
        attachments = []
        for i, att in enumerate(data.get("attachments") or [], start=1):
            att = {k: v for k, v in dict(att).items() if k in R.ATTACHMENT_FIELDS}
            att.setdefault("id", f"att{i}")
            att.setdefault("name", f"attachment-{i}")
            att.setdefault("mimeType", "application/octet-stream")
            att.setdefault("inline", False)
            att.setdefault("size", len(str(att.get("content") or "")))
            attachments.append(R.clean(att))
        base = {
            "createdTime": R.iso(now),
            "lastModifiedTime": R.iso(now),
            "sentAt": R.iso(sent_at),
            "receivedAt": R.iso(sent_at),
            "internetMessageId": imid,
            "subject": str(data.get("subject") or ""),
            "from": sender,
            "to": to,
            "cc": cc,
            "replyTo": reply_to,
            "hasAttachments": any(not a.get("inline") for a in attachments),
            "bodySnippet": R.snippet(body, body_type),
            "attachments": attachments,
            "inReplyTo": data.get("inReplyTo"),
            "references": data.get("references"),
            "internetHeaders": headers,
            "sensitivity": data.get("sensitivity") or "normal",
            "meetingMessageMethod": data.get("meetingMessageMethod"),
            "keywords": data.get("keywords"),
        }
        recipients = {a["address"].lower() for a in to + cc + bcc}
        copies: dict[str, str] = {}
        with self.lock:
            held = {sender["address"].lower()} | recipients
            ids = sorted({i for addr in held for i in self.by_email.get(addr, [])})
            for account in (self.accounts[i] for i in ids):
                mine = account.email.lower()
                is_sender = mine == sender["address"].lower()
                if not is_sender and mine not in recipients:
                    continue
                labels = (["sent"] if is_sender else []) + (
                    ["inbox", "unread"] if mine in recipients else []
                )
                record = copy.deepcopy(base)
                record["sysLabels"] = list(override) if override is not None else labels
                record["folderId"] = (
                    "INBOX"
                    if "inbox" in record["sysLabels"]
                    else ("SENT" if "sent" in record["sysLabels"] else "ARCHIVE")
                )
                if is_sender:
                    record["bcc"] = bcc
                message_id = self._new_id(account.provider, "message")
                thread_id = self._thread_for(account, data, imid)
                record = {"id": message_id, "threadId": thread_id, **record}
                # Empty lists and strings are left out, as the API does; the subject stays.
                record = {k: v for k, v in record.items() if k == "subject" or v not in ([], "")}
                item = Item(
                    id=message_id,
                    record=R.clean(record),
                    seq=0,
                    created=now,
                    meta={"body": body, "bodyType": body_type},
                )
                self._store(account, "email", item, "created")
                copies[str(account.id)] = message_id
        return {"internetMessageId": imid, "copies": copies}

    @staticmethod
    def _internet_headers(
        data: Mapping[str, Any], sender: dict, to: list, cc: list, imid: str, sent_at: float
    ) -> list[dict[str, str]]:
        custom = [
            {"name": str(h["name"]), "value": str(h.get("value", ""))}
            for h in data.get("headers") or data.get("internetHeaders") or []
            if isinstance(h, dict) and h.get("name")
        ]
        present = {h["name"].lower() for h in custom}
        standard = [
            ("Message-ID", imid),
            ("Date", formatdate(sent_at, usegmt=True)),
            ("From", R.format_address(sender)),
            ("To", ", ".join(R.format_address(a) for a in to)),
            ("Cc", ", ".join(R.format_address(a) for a in cc)),
            ("Subject", str(data.get("subject") or "")),
            ("In-Reply-To", data.get("inReplyTo") or ""),
            ("References", data.get("references") or ""),
        ]
        out = [{"name": n, "value": v} for n, v in standard if v and n.lower() not in present]
        return out + custom

    def _thread_for(self, account: Account, data: Mapping[str, Any], imid: str) -> str:
        """Join the mailbox's thread of a message this one answers, else start a new thread."""
        related = [data.get("inReplyTo") or ""] + str(data.get("references") or "").split()
        thread = next((account.threads[r] for r in related if r in account.threads), None)
        thread = thread or self._new_id(account.provider, "thread")
        account.threads.setdefault(imid, thread)
        return thread

    def put_raw_message(self, account_id: int, raw: Mapping[str, Any]) -> str:
        if not isinstance(raw, dict):
            raise bad_request("the message must be a JSON object")
        with self.lock:
            account = self.account(account_id)
            record = copy.deepcopy(dict(raw))  # as-is: no normalisation at all
            message_id = str(raw.get("id") or self._new_id(account.provider, "message"))
            record.setdefault("id", message_id)
            item = Item(
                id=message_id, record=record, seq=0, created=time.time(), meta={"raw": True}
            )
            self._store(account, "email", item, "created")
            return message_id

    def delete_message(self, account_id: int, message_id: str) -> None:
        with self.lock:
            account = self.account(account_id)
            item = account.feeds["email"].items.get(message_id)
            if item is None or item.deleted:
                raise not_found(f"message {message_id}")
            item.deleted, item.deleted_at = True, time.time()
            self._store(account, "email", item, "deleted")

    # --- events, contacts, tasks ------------------------------------------------------------

    def _merge(
        self, service: str, existing: dict | None, body: Any, *, mailbox: bool, provider: str = ""
    ) -> dict[str, Any]:
        if service == "calendar":
            return R.merge_event(existing, body, mailbox=mailbox)
        if service == "contacts":
            return R.merge_contact(existing, body, mailbox=mailbox)
        task = R.merge_task(existing, body, mailbox=mailbox, now=time.time())
        return R.google_task(task) if provider == "google" else task

    def create_record(
        self,
        account: Account,
        service: str,
        container: str | None,
        body: Any,
        *,
        mailbox: bool = False,
    ) -> dict[str, Any]:
        with self.lock:
            feed_key = self.feed_key(account, service, container)
            record = self._merge(service, None, body, mailbox=mailbox, provider=account.provider)
            now = time.time()
            kind = {"calendar": "event", "contacts": "contact", "tasks": "task"}[service]
            record_id = self._new_id(account.provider, kind)
            record = {"id": record_id, "etag": etag_of(record_id, 1), **record}
            record["lastModifiedTime"] = R.iso(now)
            if service != "tasks":
                record["createdTime"] = R.iso(now)
            if service == "calendar":
                record["calendarId"] = account.primary_calendar
                record.setdefault(
                    "organizer",
                    {"emailAddress": {"name": account.name, "address": account.email}},
                )
                record.setdefault("iCalUid", f"{uuid.uuid4().hex}@sandbox.brightsync.test")
                record.setdefault("recurrenceType", "single")
                record.setdefault("showAs", "busy")
                record.setdefault("sensitivity", "normal")
            item = Item(id=record_id, record=record, seq=0, created=now)
            self._store(account, feed_key, item, "created")
            return R.clean(record)

    def _live_item(self, account: Account, feed_key: str, record_id: str, what: str) -> Item:
        item = account.feeds[feed_key].items.get(record_id)
        if item is None or item.deleted:
            raise not_found(f"{what} {record_id}")
        return item

    def get_record(
        self, account: Account, service: str, container: str | None, record_id: str
    ) -> dict[str, Any]:
        with self.lock:
            feed_key = self.feed_key(account, service, container)
            return R.clean(self._live_item(account, feed_key, record_id, service).record)

    def update_record(
        self,
        account: Account,
        service: str,
        container: str | None,
        record_id: str,
        body: Any,
        *,
        if_match: str | None,
        mailbox: bool = False,
    ) -> dict[str, Any]:
        with self.lock:
            feed_key = self.feed_key(account, service, container)
            item = self._live_item(account, feed_key, record_id, service)
            if if_match is not None and norm_etag(if_match) not in (
                "*",
                norm_etag(item.record["etag"]),
            ):
                raise ApiFailure(
                    412, "preconditionFailed", "The record was changed (etag mismatch)"
                )
            record = self._merge(
                service, item.record, body, mailbox=mailbox, provider=account.provider
            )
            item.version += 1
            record["etag"] = etag_of(record_id, item.version)
            record["lastModifiedTime"] = R.iso(time.time())
            item.record = record
            self._store(account, feed_key, item, "updated")
            return R.clean(record)

    def delete_record(
        self, account: Account, service: str, container: str | None, record_id: str
    ) -> None:
        with self.lock:
            feed_key = self.feed_key(account, service, container)
            item = self._live_item(account, feed_key, record_id, service)
            item.deleted, item.deleted_at = True, time.time()
            self._store(account, feed_key, item, "deleted")

    def list_records(self, account_id: int, service: str) -> list[dict[str, Any]]:
        with self.lock:
            account = self.account(account_id)
            key = self.feed_key(account, service)
            items = sorted(account.feeds[key].live(), key=lambda i: i.seq)
            if service == "email":
                return [self._message_json(account, i, "html", full=True) for i in items]
            return [R.clean(i.record) for i in items]

    # --- subscriptions ----------------------------------------------------------------------

    def check_subscription(self, account: Account, body: Any) -> tuple[str, str, list[str]]:
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object")
        resource, url = body.get("resource"), body.get("notificationUrl")
        filters = body.get("filters") or []
        if not isinstance(resource, str) or not resource:
            raise bad_request("resource is required")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise bad_request("notificationUrl must be an http(s) URL")
        if not isinstance(filters, list) or any(f != "withoutDrafts" for f in filters):
            raise bad_request("filters may only contain withoutDrafts")
        with self.lock:
            if resource != "/email/tracking" and self.resource_feed(account, resource) is None:
                raise bad_request(f"unsupported resource {resource}")
        return resource, url, list(filters)

    def add_subscription(
        self, account: Account, resource: str, url: str, filters: list[str]
    ) -> Subscription:
        with self.lock:
            sub = Subscription(next(self._subscription_ids), account.id, resource, url, filters)
            self.subscriptions[sub.id] = sub
            return sub

    def subscription(self, account: Account | None, sub_id: Any) -> Subscription:
        with self.lock:
            try:
                sub = self.subscriptions.get(int(sub_id))
            except (TypeError, ValueError):
                sub = None
            if sub is None or (account is not None and sub.account_id != account.id):
                raise not_found(f"subscription {sub_id}")
            return sub

    def list_subscriptions(
        self, account: Account, limit: int, offset: int, include_inactive: bool
    ) -> dict[str, Any]:
        with self.lock:
            subs = [
                s
                for s in sorted(self.subscriptions.values(), key=lambda s: s.id)
                if s.account_id == account.id and (s.active or include_inactive)
            ]
            page = subs[offset : offset + limit]
            return {
                "offset": offset,
                "totalSize": len(subs),
                "done": offset + len(page) >= len(subs),
                "records": [s.to_json() for s in page],
            }

    def delete_subscription(self, account: Account, sub_id: Any) -> None:
        with self.lock:
            sub = self.subscription(account, sub_id)
            del self.subscriptions[sub.id]

    def delivery_result(self, sub_id: int, ok: bool, detail: str | None) -> None:
        with self.lock:
            sub = self.subscriptions.get(sub_id)
            if sub is None:
                return
            if ok:
                sub.fail_since, sub.fail_description = None, None
            elif sub.fail_since is None:
                sub.fail_since, sub.fail_description = time.time(), detail
            else:
                sub.fail_description = detail

    def lifecycle(
        self, account_id: int, event: str, error: str | None, subscription: Any = None
    ) -> list[int]:
        if event not in ("error", "active"):
            raise bad_request('event must be "error" or "active"')
        with self.lock:
            account = self.account(account_id)
            if subscription is not None:
                subs = [self.subscription(account, subscription)]
            else:
                subs = [s for s in self.subscriptions.values() if s.account_id == account.id]
            for sub in subs:
                body: dict[str, Any] = {
                    "subscription": sub.id,
                    "resource": sub.resource,
                    "accountId": account.id,
                    "lifecycleEvent": event,
                }
                if error:
                    body["error"] = error
                self.webhooks.send(sub, body, kind="lifecycle")
            return [s.id for s in subs]
