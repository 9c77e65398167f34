"""Token ids -> text in time linear in the stream's length: finished words are decoded once and committed.

A streaming decoder's token list only grows (greedy) or grows behind a stable prefix (beam search), so
decoding the whole list again on every chunk makes an hour's transcription quadratic.  :class:`IncrementalText`
keeps the text of the *committed* ids (those that can no longer change) and decodes only what follows the last
committed word, with that word as context::

    text = IncrementalText(tokenizer)
    new = text.append(final_ids)        # the committed text these ids finished ("" while a word is open)
    text.text + text.render(tail_ids)   # == tokenizer.decode(all final ids + tail_ids)

Ids are committed up to the last word start (a sentencepiece piece beginning with ``▁``), and each committed
stretch is decoded after the previous word (``decode(context + ids)`` minus ``decode(context)``; the context
starts at a word with text of its own, not at a lone ``▁``), so the tokenizer's treatment of the start of a
text (leading spaces dropped) and of ``<unk>`` come out as in one whole decode.  A tokenizer without
``id_to_piece`` has no known word starts: nothing is committed and every call decodes the whole list, as before.
"""

from __future__ import annotations

WORD_START = "\u2581"


class IncrementalText:
    """The text of a growing list of final token ids, plus a tail that may still change.

    ``decoded_tokens`` counts the ids passed to ``tokenizer.decode`` (the work that must not grow with the
    stream's length).
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        piece = getattr(tokenizer, "id_to_piece", None)
        pieces = {} if piece is None else {i: piece(i) for i in range(tokenizer.vocab_size) if i != tokenizer.blank_id}
        self.word_starts = frozenset(i for i, p in pieces.items() if p.startswith(WORD_START))
        self.spaces = frozenset(i for i, p in pieces.items() if not p.strip(WORD_START))  # "▁": no text of its own
        self.decoded_tokens = 0
        self.reset()

    def reset(self) -> None:
        self.text = ""  # the text of the committed ids
        self._committed: list[int] = []  # every committed id (only read if the tokenizer breaks the rule above)
        self._context: list[int] = []  # the last committed word's ids
        self._open: list[int] = []  # final ids after the last committed word (its first is a word start)

    def append(self, ids: list[int]) -> str:
        """Add final ids; returns the text they committed (everything before the last word start)."""
        self._open.extend(ids)
        cut = self._last_word_start(self._open, begin=1)
        if cut is None:
            return ""
        stretch, self._open = self._open[:cut], self._open[cut:]
        added = self._decode_after(self._context, stretch)
        if added is None:  # decode(context + ids) does not extend decode(context): decode everything again
            whole = self._decode([*self._committed, *stretch])
            added = whole[len(self.text):] if whole.startswith(self.text) else whole
            self.text = whole
        else:
            self.text += added
        self._committed.extend(stretch)
        self._context = self._last_word([*self._context, *stretch])
        return added

    def render(self, tail: list[int] = ()) -> str:
        """The text that follows :attr:`text` for the open ids plus ``tail`` (ids that may still change)."""
        ids = [*self._open, *tail]
        if not ids:
            return ""
        added = self._decode_after(self._context, ids)
        if added is None:
            whole = self._decode([*self._committed, *ids])
            return whole[len(self.text):]
        return added

    def _decode_after(self, context: list[int], ids: list[int]) -> str | None:
        """``decode(context + ids)`` minus ``decode(context)``; None where the first does not extend the second."""
        head = self._decode(context) if context else ""
        whole = self._decode([*context, *ids])
        return whole[len(head):] if whole.startswith(head) else None

    def _decode(self, ids: list[int]) -> str:
        self.decoded_tokens += len(ids)
        return self.tokenizer.decode(ids)

    def _last_word(self, ids: list[int]) -> list[int]:
        """``ids`` from the start of the last word with text of its own: a text that starts with a space-only
        piece loses it (sentencepiece drops leading spaces), so the context must begin before real text."""
        content = False
        for i in range(len(ids) - 1, -1, -1):
            content = content or ids[i] not in self.spaces
            if content and ids[i] in self.word_starts:
                return ids[i:]
        return ids

    def _last_word_start(self, ids: list[int], begin: int) -> int | None:
        for i in range(len(ids) - 1, begin - 1, -1):
            if ids[i] in self.word_starts:
                return i
        return None
