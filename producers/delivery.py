"""Delivery accounting shared by every producer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DeliveryCounter:
    """Counts acknowledged and failed records from the producer's delivery callbacks."""

    acked: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def __call__(self, err: object, _msg: object) -> None:
        if err is None:
            self.acked += 1
        else:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(str(err))
