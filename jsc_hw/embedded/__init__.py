"""The embedded default JSC dataset (``jsc_default.npz``) and its ``DATA_CARD.md``; load with
:func:`jsc_hw.loaders.default_jets`."""
