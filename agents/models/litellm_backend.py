"""Any provider litellm speaks to: hosted APIs, Ollama, vLLM, local OpenAI-compatible servers.

litellm is imported on the first call, not at import time: it takes seconds to import and
`agent --help` must stay fast. Before importing it we ask for its bundled price table, so
importing never reaches out to the network for a fresh one.

Retries are ours alone (litellm's and the OpenAI client's are switched off), so the number
of requests is predictable: transient failures (rate limits, timeouts, lost connections,
5xx) are retried with exponential backoff and jitter, honouring a `Retry-After` header;
anything else fails at once. A refused key, a model the provider does not have, or no
access to it is a `ModelConfigError` (every later call would fail alike: the run stops);
a bad request (context too long, ...) fails that one call. Either way the caller gets a
one-line `ModelError`. `preflight()` catches an unknown name or a missing key before any
request (see `agents.models.preflight`).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agents.models.base import ModelConfigError, ModelError, Reply, one_line

if TYPE_CHECKING:
    from benchmarks.task import Task

log = logging.getLogger(__name__)

_import_lock = threading.Lock()
_warned_unpriced: set[str] = set()


def import_litellm() -> Any:
    """Import litellm quietly and without network access (its price table is bundled)."""
    with _import_lock:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        return litellm


def transient_errors(litellm: Any) -> tuple[type[BaseException], ...]:
    """The provider failures worth waiting out (litellm maps every provider onto these)."""
    return (
        litellm.RateLimitError,
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.ServiceUnavailableError,
        litellm.InternalServerError,
    )


def config_errors(litellm: Any) -> tuple[type[BaseException], ...]:
    """Provider answers that no retry and no other prompt can fix."""
    return (litellm.AuthenticationError, litellm.PermissionDeniedError, litellm.NotFoundError)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        value = float(headers.get("retry-after", ""))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


class LiteLLMModel:
    """A litellm model string (`openai/gpt-4o`, `anthropic/claude-…`, `ollama/…`, `hosted_vllm/…`).

    `api_base` and `api_key` default to what litellm reads from the environment for the
    provider (OPENAI_API_KEY, OLLAMA_API_BASE, …). `sleep` is replaceable so tests of the
    backoff do not wait.
    """

    stateless = True  # no state between calls: a call may run elsewhere (`executors`)

    def __init__(
        self,
        name: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        retries: int = 4,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not name or any(c.isspace() for c in name):
            raise ModelError(
                f"bad model name {name!r}: expected a litellm model string such as openai/gpt-4o"
            )
        if retries < 0 or backoff_s < 0 or timeout_s <= 0:
            raise ModelError(f"{name}: retries and backoff must be >= 0 and the timeout > 0")
        self.name = name
        self.api_base = api_base
        self.api_key = api_key
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self._sleep = sleep

    def preflight(self) -> None:
        """Fail now, in one line, if the name does not resolve or the key is missing."""
        from agents.models.preflight import preflight

        preflight(self.name, api_key=self.api_key)

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 4096,
        task: Task | None = None,
    ) -> Reply:
        litellm = import_litellm()
        transient = transient_errors(litellm)
        fatal = config_errors(litellm)
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "timeout": self.timeout_s,
            "num_retries": 0,
            "max_retries": 0,
            # Some models refuse some sampling parameters (reasoning models and
            # temperature): drop those instead of failing every call.
            "drop_params": True,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        start = time.monotonic()
        for attempt in range(self.retries + 1):
            try:
                response = litellm.completion(**kwargs)
                break
            except transient as exc:
                if attempt == self.retries:
                    raise ModelError(
                        f"{self.name}: {type(exc).__name__} after {attempt + 1} tries: {one_line(exc)}"
                    ) from None
                delay = _retry_after(exc)
                if delay is None:
                    delay = self.backoff_s * 2**attempt * random.uniform(0.5, 1.0)
                delay = min(delay, self.max_backoff_s)
                log.info("%s: %s, retrying in %.1f s", self.name, type(exc).__name__, delay)
                self._sleep(delay)
            except fatal as exc:
                raise ModelConfigError(
                    f"{self.name}: {type(exc).__name__}: {one_line(exc)}{_hint(exc, litellm)}"
                ) from None
            except Exception as exc:  # not transient: a bad request
                raise ModelError(f"{self.name}: {type(exc).__name__}: {one_line(exc)}") from None
        seconds = time.monotonic() - start
        return self._reply(litellm, response, seconds)

    def _reply(self, litellm: Any, response: Any, seconds: float) -> Reply:
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError) as exc:
            raise ModelError(f"{self.name}: reply without a message ({exc})") from None
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost_known = True
        try:
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception as exc:  # litellm raises when a model has no known price
            cost, cost_known = 0.0, False
            if self.name not in _warned_unpriced:
                _warned_unpriced.add(self.name)
                log.warning(
                    "no price known for %s (%s); its cost is counted as 0",
                    self.name,
                    one_line(exc, 120),
                )
        return Reply(
            text=text,
            model=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            seconds=seconds,
            cost_known=cost_known,
        )


def _hint(exc: BaseException, litellm: Any) -> str:
    """What to do about a refused key: the variable litellm read it from."""
    if not isinstance(exc, litellm.AuthenticationError):
        return ""
    from agents.models.preflight import KEY_VARIABLES

    names = KEY_VARIABLES.get(str(getattr(exc, "llm_provider", "")), ())
    return f" (check {' or '.join(names)})" if names else ""
