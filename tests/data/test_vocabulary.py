"""What the toyworld model has seen, and the note for prompts that ask it for more (issue 24)."""

from kino.cli import main
from kino.data.toyworld import vocabulary


def test_the_vocabulary_file_holds_every_word_the_captions_use():
    assert vocabulary.collect(scenes=300, seed=1) <= vocabulary.known()


def test_a_real_world_prompt_gets_a_note_naming_what_the_model_never_saw_and_who_can_draw_it():
    note = vocabulary.note("a golden retriever runs along a beach at sunset, handheld camera")
    assert "golden, retriever" in note and "beach" in note and "Wan-AI/Wan2.1-T2V-1.3B-Diffusers" in note
    assert "camera" not in vocabulary.unseen("a golden retriever, handheld camera")
    for prompt in ("A cartoon: two big red balls on the left move to the right, the camera pans left.",
                   "a small blue square is above a green triangle"):
        assert vocabulary.note(prompt) is None, vocabulary.unseen(prompt)


def test_generate_says_so_on_stderr(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "dog.mp4"
    assert main(["generate", "a dog on a beach", "-o", str(out), "--model", str(tiny_model_dir), "--steps", "1"]) == 0
    assert "has never seen: dog, beach" in capsys.readouterr().err
