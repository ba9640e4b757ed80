"""The photo cache: the pages' uploads, kept decoded in memory so that a photo is sent once.

The /convolve page sends a photo with its first request only. The server decodes it, fits
it to the page's working size and keeps the pixels here under the photo's **key** (a hash of
its bytes) and that working size; every later change of a control sends the key instead of
the bytes. A key the server no longer has (evicted, expired, a restarted server, another
replica behind a load balancer) is answered with `webapp.errors.PhotoExpired`, and the page
sends the photo again by itself.

Bounded both ways, since photos are the largest thing a server holds: a **byte budget**
(least recently used photos leave first) and a **time limit** (a photo unused that long is
dropped, so nobody's picture outlives their visit by much). Nothing is written to disk.

The work queue decodes and convolves on threads, so every operation takes one lock; the
slow parts (hashing, decoding) happen outside it.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from webapp.errors import InvalidInput, PhotoExpired
from webapp.images import Color, DecodedImage, decode_image, in_color
from webapp.translation import gettext as _

KEY_DIGITS = 32
"""A key is this many hex digits: 128 bits of BLAKE2b, never two photos alike by chance."""
_KEY = re.compile(rf"[0-9a-f]{{{KEY_DIGITS}}}")

FULL_SIZE = 0
"""The working side standing for the photo's full size."""


def photo_key(data: bytes) -> str:
    """The key of a photo's bytes: the same upload always gets the same key.

    >>> photo_key(b"abc") == photo_key(b"abc") != photo_key(b"abd"), len(photo_key(b""))
    (True, 32)
    """
    return hashlib.blake2b(data, digest_size=KEY_DIGITS // 2).hexdigest()


def checked_key(value: object, field: str = "photo_key") -> str:
    """``value`` if it has the shape of a key, else a clear 422 naming ``field``: a key is
    read from requests, so a forged one is refused before it is looked up or echoed.

    >>> checked_key("0" * 32) == "0" * 32
    True
    """
    if isinstance(value, str) and _KEY.fullmatch(value):
        return value
    shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
    raise InvalidInput(
        _("%(field)s must be the %(digits)s hex digits (0-9, a-f) the server gave for an "
          "uploaded photo, not %(value)s.", field=field, digits=KEY_DIGITS, value=shown),
        field=field,
    )


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds and how it has served, for /metrics."""

    bytes: int
    entries: int
    hits: int
    misses: int


@dataclass
class _Entry:
    photo: DecodedImage
    size: int
    last_used: float


class PhotoCache:
    """Decoded photos by ``(key, working side)``, least recently used first out.

    ``max_bytes`` bounds the pixels held (a photo larger than all of it is not kept: the
    page then sends it with every change, as it would without a cache); ``max_seconds``
    is how long a photo may go unused. ``clock`` is for tests.
    """

    def __init__(self, *, max_bytes: int, max_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, int], _Entry] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0

    def get(self, key: str, side: int) -> DecodedImage | None:
        """The photo under ``key`` at working ``side`` (`FULL_SIZE` for the full size), or
        None; a photo found counts as used now. (An upload looks itself up here before it
        is decoded: that is not a client's key, so it counts as neither hit nor miss.)"""
        return self._lookup(key, side, count=False)

    def require(self, key: str, side: int) -> DecodedImage:
        """The photo a client named by its key, or `PhotoExpired` (the page answers it by
        sending the photo again); counted as a hit or a miss."""
        photo = self._lookup(key, side, count=True)
        if photo is None:
            raise PhotoExpired(
                _("The server no longer has this photo (photo_key): it keeps an uploaded photo "
                  "for %(seconds)s s after its last use, while there is room. Send the image "
                  "again.", seconds=format(self.max_seconds, "g")),
                field="photo_key",
            )
        return photo

    def _lookup(self, key: str, side: int, *, count: bool) -> DecodedImage | None:
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            entry = self._entries.get((key, side))
            if count:
                self._hits += entry is not None
                self._misses += entry is None
            if entry is None:
                return None
            entry.last_used = now
            self._entries.move_to_end((key, side))
            return entry.photo

    def put(self, key: str, side: int, photo: DecodedImage) -> bool:
        """Keep ``photo``, making room by dropping the least recently used; False when it
        alone is over the byte budget (then it is not kept)."""
        size = int(photo.pixels.nbytes)
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            old = self._entries.pop((key, side), None)
            if old is not None:
                self._bytes -= old.size
            if size > self.max_bytes:
                return False
            while self._bytes + size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size
            self._entries[(key, side)] = _Entry(photo, size, now)
            self._bytes += size
            return True

    def clear(self) -> None:
        """Forget every photo (the counters stay)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            self._drop_expired(self._clock())
            return CacheStats(bytes=self._bytes, entries=len(self._entries),
                              hits=self._hits, misses=self._misses)

    def _drop_expired(self, now: float) -> None:
        """Drop photos unused for longer than the time limit (the lock is held). The least
        recently used come first, so the sweep stops at the first one still fresh."""
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if now - oldest.last_used <= self.max_seconds:
                return
            del self._entries[key]
            self._bytes -= oldest.size


def working_photo(
    cache: PhotoCache, data: bytes, key: str | None, *, max_side: int | None, color: Color,
    max_pixels: int,
) -> tuple[str, DecodedImage, bool]:
    """The photo a page computes on, its key, and whether the cache holds it: ``data``
    decoded at the working size ``max_side`` (None: the full size) and kept if there is
    room, or else the photo kept under ``key`` (`PhotoExpired` when it is gone); in
    ``color``.

    The cache holds RGB only: gray is worked out from it when asked, so a change of colour
    needs no upload either.
    """
    side = max_side or FULL_SIZE
    kept = True
    if data:
        key = photo_key(data)
        photo = cache.get(key, side)
        if photo is None:
            photo = decode_image(data, max_pixels=max_pixels, max_side=max_side)
            kept = cache.put(key, side, photo)
    elif key is not None:
        photo = cache.require(key, side)
    else:
        raise InvalidInput(_("image is missing: send a photo, a sample name or a photo_key."),
                           field="image")
    return key, in_color(photo, color), kept
