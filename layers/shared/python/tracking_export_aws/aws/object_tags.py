"""The object tag the export bucket's lifecycle rules act on (``cleanOlderThan``).

The export bucket has one lifecycle rule per value of :data:`CLEAN_OLDER_THAN_DAYS`: a file
tagged ``clean-older-than=<n>`` is deleted n days after it was written. template.yaml lists
the same values (tests/unit/test_template.py checks that they agree).
"""

from __future__ import annotations

CLEAN_OLDER_THAN_TAG_KEY = "clean-older-than"
CLEAN_OLDER_THAN_DAYS: tuple[int, ...] = (
    *range(1, 32),
    45,
    60,
    90,
    120,
    180,
    270,
    365,
    730,
    1095,
    1825,
    3650,
)


def clean_older_than_tag(days: int | None) -> dict[str, str]:
    """The tag that has the export bucket delete a file ``days`` days after it was written.

    ``days`` is rounded *up* to the next value that has a lifecycle rule, so a file is never
    deleted earlier than asked. None, or more days than the longest rule, gives no tag:
    the file is kept.
    """
    if days is None:
        return {}
    if days < 1:
        raise ValueError(f"cleanOlderThan must be at least 1 day, got {days}")
    for value in CLEAN_OLDER_THAN_DAYS:
        if value >= days:
            return {CLEAN_OLDER_THAN_TAG_KEY: str(value)}
    return {}
