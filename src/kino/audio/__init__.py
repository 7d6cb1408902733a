"""Sound: narration spoken offline (voices), its captions, and a music bed under it (kino.audio.mix)."""
