"""Safety: prompt moderation before generation (``moderation``)."""
