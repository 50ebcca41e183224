"""Shared texts (components/shared_texts.py): equal HTML made by many pages is held once, and only while held."""

import gc

from components.shared_texts import SharedTexts


def test_equal_texts_come_back_as_one_copy_and_different_texts_stay_apart() -> None:
    texts = SharedTexts()
    first = texts.share('<div>Bed 1 · HR 120</div>')
    again = texts.share(''.join(['<div>Bed 1 ', '· HR 120</div>']))  # equal, made separately
    other = texts.share('<div>Bed 1 · HR 121</div>')

    assert again is first and again == '<div>Bed 1 · HR 120</div>'
    assert other is not first and other == '<div>Bed 1 · HR 121</div>'


def test_a_text_no_page_holds_any_more_is_forgotten() -> None:
    texts = SharedTexts()
    held = texts.share('<div>Bed 2</div>')
    assert len(texts._held) == 1
    del held
    gc.collect()

    assert len(texts._held) == 0  # the store alone keeps nothing alive
