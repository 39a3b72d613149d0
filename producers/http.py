"""The HTTP side of the pollers: one GET with a timeout, retried with exponential backoff and
full jitter (tenacity) on 5xx, 429, timeouts and connection errors, bounded in attempts and in
total time, and cancelled by the stop event. 404 is "no data" (``None``); any other 4xx fails
at once. API keys never reach a message or a log line: every URL is shown through
``redact_url`` and the ``httpx`` request log is filtered the same way."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)

from lakehouse import __version__
from lakehouse.errors import LakehouseError
from lakehouse.settings import HttpSettings

log = logging.getLogger(__name__)

USER_AGENT = f"lakehouse/{__version__} (+data pipeline)"
REDACTED = "***"
# Query parameters whose values are credentials (OpenWeather's is ``appid``).
_SECRET_PARAM = re.compile(r"(?i)\b(appid|api_?key|access_token|token)=[^&#\s\"'<>]*")


class FetchError(LakehouseError):
    """A request failed for good (non-retryable status, or retries exhausted)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(redact(message))
        self.status = status


class FetchCancelled(FetchError):
    """The stop event was set while waiting to (re)try a request."""


def redact(text: str) -> str:
    """``text`` with the value of every credential query parameter replaced by ``***``."""
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def redact_url(url: str | httpx.URL) -> str:
    """A URL safe to log, to put in an error or in a dead-letter record."""
    return redact(str(url))


class RedactingFilter(logging.Filter):
    """Redacts credential query parameters from the records of a logger (httpx logs URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _install_log_redaction() -> None:
    for name in ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.proxy"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


_install_log_redaction()


def backoff_ceiling(policy: HttpSettings, retry: int) -> float:
    """The upper bound of the wait before retry number ``retry`` (1-based): doubling from
    ``backoff_initial_s``, capped at ``backoff_max_s``."""
    return min(policy.backoff_max_s, policy.backoff_initial_s * 2 ** max(retry - 1, 0))


def full_jitter(
    policy: HttpSettings, retry: int, rng: Callable[[], float] = random.random
) -> float:
    """The wait before retry ``retry``: uniform in [0, ceiling] ("full jitter")."""
    return rng() * backoff_ceiling(policy, retry)


class _RetryableStatus(Exception):
    """A 5xx or 429 answer, raised inside the retry loop only."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.status = response.status_code
        self.retry_after = _retry_after(response)


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else 0.0


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"connection error ({type(exc).__name__}: {exc})"
    return str(exc)


class RateLimiter:
    """At most ``max_calls`` calls in any ``period_s`` window. ``acquire`` sleeps (at most one
    period per wait, in steps that wake on the stop event) and returns False when stopped."""

    def __init__(
        self,
        max_calls: int,
        period_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        self.max_calls, self.period_s, self._clock = max_calls, period_s, clock
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds to wait before the next call may go (0 when it may go now)."""
        now = self._clock()
        while self._calls and now - self._calls[0] >= self.period_s:
            self._calls.popleft()
        if len(self._calls) < self.max_calls:
            return 0.0
        return min(self.period_s, self._calls[0] + self.period_s - now)

    def acquire(self, stop: threading.Event) -> bool:
        with self._lock:
            while (wait := self.delay()) > 0:
                log.debug("rate limit %d/%.0fs: waiting %.1fs", self.max_calls, self.period_s, wait)
                if stop.wait(wait):
                    return False
            if stop.is_set():
                return False
            self._calls.append(self._clock())
            return True


@dataclass(frozen=True)
class Fetched:
    """A successful answer: the redacted URL, status and body text."""

    url: str
    status: int
    text: str


class HttpFetcher:
    """GET with retries; one pooled ``httpx.Client``. Use as a context manager."""

    def __init__(
        self,
        policy: HttpSettings,
        *,
        stop: threading.Event | None = None,
        limiter: RateLimiter | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.policy = policy
        self.stop = stop or threading.Event()
        self.limiter = limiter
        self.attempts = 0  # every request sent, retries included
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(policy.timeout_s),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=True,
        )

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str) -> Fetched | None:
        """The answer to ``GET url``; ``None`` for 404. Raises FetchError (redacted)."""
        shown = redact_url(url)
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts)
            | stop_before_delay(self.policy.max_total_s),
            wait=self._wait,
            retry=retry_if_exception_type((httpx.TransportError, _RetryableStatus)),
            sleep=lambda seconds: self._sleep(seconds, shown),
            before_sleep=lambda state: self._log_retry(state, shown),
        )
        try:
            return retrying(self._once, url, shown)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            status = getattr(last, "status", None)
            raise FetchError(
                f"GET {shown} failed after {exc.last_attempt.attempt_number} attempts: "
                f"{_describe(last)}",
                status,
            ) from None

    def _once(self, url: str, shown: str) -> Fetched | None:
        if self.stop.is_set() or (self.limiter and not self.limiter.acquire(self.stop)):
            raise FetchCancelled(f"GET {shown} cancelled: stopping")
        self.attempts += 1
        response = self._client.get(url)
        status = response.status_code
        if status == 404:
            log.debug("GET %s: 404, no data", shown)
            return None
        if status == 429 or status >= 500:
            raise _RetryableStatus(response)
        if status >= 400:
            body = redact(response.text[:200])
            raise FetchError(f"GET {shown} answered HTTP {status}: {body}", status)
        return Fetched(shown, status, response.text)

    def _wait(self, state: RetryCallState) -> float:
        jitter = full_jitter(self.policy, state.attempt_number)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = min(getattr(exc, "retry_after", 0.0), self.policy.backoff_max_s)
        return max(jitter, retry_after)

    def _sleep(self, seconds: float, shown: str) -> None:
        if self.stop.wait(seconds):
            raise FetchCancelled(f"GET {shown} cancelled while backing off: stopping")

    def _log_retry(self, state: RetryCallState, shown: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "GET %s: %s; retry %d/%d in %.2fs",
            shown,
            _describe(exc),
            state.attempt_number,
            self.policy.max_attempts - 1,
            state.upcoming_sleep,
        )
