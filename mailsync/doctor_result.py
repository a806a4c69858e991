"""One doctor check's outcome, and how it is printed: `ok` or `problem`, the check's name,
what was found and, for a problem, what to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    passed: bool
    detail: str
    hint: str = ""
    skipped: bool = False  # could not run because an earlier check failed; not a failure

    @classmethod
    def ok(cls, name: str, detail: str) -> Result:
        return cls(name, True, detail)

    @classmethod
    def skip(cls, name: str, detail: str) -> Result:
        return cls(name, True, detail, skipped=True)

    @classmethod
    def problem(cls, name: str, detail: str, hint: str) -> Result:
        return cls(name, False, detail, hint)

    def line(self) -> str:
        status = "skipped" if self.skipped else "ok     " if self.passed else "problem"
        text = f"{status} {self.name:<9} {self.detail}"
        return f"{text} (hint: {self.hint})" if self.hint else text
