"""Progress bars through tqdm when it is installed (ebm-core itself needs only torch and numpy)."""

from __future__ import annotations

import sys
from typing import Any


class _PlainProgress:
    def __init__(self, total: int, initial: int = 0, desc: str = "", disable: bool = False):
        self.total, self.n, self.desc, self.disable = total, initial, desc, disable
        self._every = max(total // 20, 1)

    def update(self, k: int = 1) -> None:
        self.n += k
        if not self.disable and (self.n % self._every == 0 or self.n == self.total):
            print(f"{self.desc} {self.n}/{self.total}", file=sys.stderr)

    def set_postfix(self, **_: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _PlainProgress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def progress(total: int, initial: int = 0, desc: str = "", disable: bool = False) -> Any:
    """A tqdm bar when tqdm is installed, else a plain stand-in with the same ``update`` /
    ``set_postfix`` / ``close`` calls (and ``with`` use) that prints ``desc n/total`` to stderr
    about 20 times. The one progress style of every loop and app."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainProgress(total, initial, desc, disable)
    return tqdm(total=total, initial=initial, desc=desc, disable=disable, dynamic_ncols=True)
