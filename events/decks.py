"""Editing slide decks: add, reorder, remove and copy the slides of one locale.

A deck is the list `slides.decks[locale]` of {media_id, name}.  Every edit
follows the control actions' order: read, compute the new deck, persist it
guarded by `state_version` (two editors never lose each other's change),
write the audit log with the media ids before and after, then announce the
change, because what attendees see of the current slide may have changed.

Edits name a slide by position *and* media id, so a click made on a page
that is out of date (someone else reordered meanwhile) is refused instead of
moving or removing the wrong slide.  When a deck shrinks below the shared
index, the index moves to the new last slide.

An upload is all or nothing: every file is validated first, and if any is
refused nothing is stored, neither in the deck nor in the media collection.
"""
from __future__ import annotations

import copy
import os

from accounts.users import AccountDoc
from core.errors import Refusal
from core.i18n import N_
from events import control, model
from events.model import EventDoc, SlideDoc
from media import image_store

MAX_SLIDES = 1000
MAX_NAME = 200


class DeckError(Refusal):
    """A refused deck edit; the message is marked for translation, `params`
    fill its placeholders."""


class UploadRejected(DeckError):
    """Some files of an upload were refused: `failures` is [(file name, MediaError)]."""

    def __init__(self, failures: list[tuple[str, image_store.MediaError]]):
        super().__init__(N_("Nothing was added: some files were not accepted."))
        self.failures = failures


def media_ids(deck: list[SlideDoc] | None) -> list[str]:
    return [s["media_id"] for s in deck or []]


def clean_name(filename: str) -> str:
    """The last part of an uploaded file's name, as shown to staff."""
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    return name[:MAX_NAME]


def _check_locale(event: EventDoc | None, locale: str) -> None:
    if event is None:
        raise DeckError(N_("This event does not exist."))
    if locale not in event["locales"]:
        raise DeckError(N_("This event has no such language."))


def _check_slide(deck: list[SlideDoc], position, media_id) -> int:
    if not isinstance(position, int) or not 0 <= position < len(deck) \
            or deck[position]["media_id"] != media_id:
        raise DeckError(N_("The deck has changed meanwhile; reload the page and try again."))
    return position


async def _edit(db, notifier, event_id, actor: AccountDoc, locale: str, action: str, params: dict,
                compute, retries: int = 5) -> EventDoc:
    """Persist `compute(event, deck) -> new deck` for one locale; returns the event after."""
    def plan(event: EventDoc) -> dict:
        _check_locale(event, locale)
        after = compute(event, copy.deepcopy(list(event["slides"]["decks"].get(locale) or [])))
        changes: dict = {f"slides.decks.{locale}": after}
        decks = {**event["slides"]["decks"], locale: after}
        count = max((len(d) for d in decks.values()), default=0)
        # A shorter deck must not leave the shared index past the last slide.
        if event["slides"]["index"] > max(0, count - 1):
            changes["slides.index"] = max(0, count - 1)
        return changes

    try:
        event, saved = await model.versioned_update(db, event_id, plan, retries)
    except model.EventMissing:
        raise DeckError(N_("This event does not exist.")) from None
    except model.StateConflict:
        raise DeckError(control.CONFLICT) from None
    await control.record_and_announce(
        db, notifier, actor, action, saved, {"locale": locale, **params},
        media_ids(event["slides"]["decks"].get(locale) or []),
        media_ids(saved["slides"]["decks"].get(locale) or []))
    return saved


async def add_slides(db, notifier, event_id, actor: AccountDoc, locale: str,
                     files: list[tuple[str, bytes]], max_bytes: int) -> EventDoc:
    """Append uploaded images (name, bytes) to a locale's deck, all or none."""
    if not files:
        raise DeckError(N_("Choose one or more images to upload."))
    event = await db.events.find_one({"_id": event_id})
    _check_locale(event, locale)
    failures, checked = [], []
    for name, data in files:
        try:
            checked.append((clean_name(name), data, await image_store.inspect(data, max_bytes)))
        except image_store.MediaError as exc:
            failures.append((clean_name(name), exc))
    if failures:
        raise UploadRejected(failures)
    current = event["slides"]["decks"].get(locale) or []
    if len(current) + len(checked) > MAX_SLIDES:
        raise DeckError(N_("A deck holds at most %(max)s slides."), max=MAX_SLIDES)
    new = []
    for name, data, info in checked:
        stored = await image_store.save(db, data, info)
        new.append({"media_id": stored["_id"], "name": name or stored["_id"][:12]})

    def compute(_event, deck):
        if len(deck) + len(new) > MAX_SLIDES:
            raise DeckError(N_("A deck holds at most %(max)s slides."), max=MAX_SLIDES)
        return deck + new

    return await _edit(db, notifier, event_id, actor, locale, "deck_add",
                       {"count": len(new)}, compute)


async def move_slide(db, notifier, event_id, actor: AccountDoc, locale: str, position: int,
                     media_id: str, direction: str) -> EventDoc:
    """Swap a slide with its neighbour: direction "up" (earlier) or "down" (later)."""
    if direction not in ("up", "down"):
        raise DeckError(N_("Unknown direction."))

    def compute(_event, deck):
        i = _check_slide(deck, position, media_id)
        j = i - 1 if direction == "up" else i + 1
        if not 0 <= j < len(deck):
            raise DeckError(N_("This slide cannot move further."))
        deck[i], deck[j] = deck[j], deck[i]
        return deck

    return await _edit(db, notifier, event_id, actor, locale, "deck_move",
                       {"position": position + 1 if isinstance(position, int) else None,
                        "direction": direction}, compute)


async def remove_slide(db, notifier, event_id, actor: AccountDoc, locale: str, position: int,
                       media_id: str) -> EventDoc:
    """Take one slide out of a deck (the image stays stored: other decks may use it)."""
    def compute(_event, deck):
        i = _check_slide(deck, position, media_id)
        del deck[i]
        return deck

    return await _edit(db, notifier, event_id, actor, locale, "deck_remove",
                       {"position": position + 1 if isinstance(position, int) else None}, compute)


async def copy_deck(db, notifier, event_id, actor: AccountDoc, source: str, target: str) -> EventDoc:
    """Replace the deck of `target` with a copy of the deck of `source`."""
    def compute(event, _deck):
        if source not in event["locales"]:
            raise DeckError(N_("This event has no such language."))
        if source == target:
            raise DeckError(N_("Choose a different language to copy from."))
        slides = event["slides"]["decks"].get(source) or []
        if not slides:
            raise DeckError(N_("That language has no slides to copy."))
        return copy.deepcopy(slides)

    return await _edit(db, notifier, event_id, actor, target, "deck_copy", {"source": source}, compute)
