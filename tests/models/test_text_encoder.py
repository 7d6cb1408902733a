import pytest
import torch

from kino.models.text_encoder import TextEncoder


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder.from_pretrained(max_tokens=16)


def test_token_states_are_padded_to_the_window_with_a_mask(encoder):
    states, mask = encoder(["a red ball", ""])
    assert states.shape == (2, 16, encoder.dim) and states.dtype == torch.float32
    assert mask.dtype == torch.bool and mask[0].sum() == encoder.count_tokens("a red ball") and mask[1].sum() == 2
    assert not torch.equal(states[0], states[1])


def test_generation_sees_the_token_states_training_saw(encoder):
    # Training encodes prompts inside its bf16 autocast; generation calls the encoder bare.
    prompts = ["two small blue squares move left", "a big green triangle above a red circle"]
    bare, _ = encoder(prompts)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        trained, _ = encoder(prompts)
    assert torch.equal(bare, trained)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no text encoder"):
        TextEncoder.from_pretrained(tmp_path)


def test_the_embedding_layer_keeps_left_and_right_apart():
    # The last layer of MiniLM nearly merges "left" and "right"; concatenating the embedding
    # layer's states gives the transformer words it can tell apart.
    both = TextEncoder.from_pretrained(max_tokens=16, layers=(0, -1), dtype=torch.float32)
    assert both.dim == 768
    states, _ = both(["a red ball on the left", "a red ball on the right"])
    word = states[:, 6]  # [CLS] a red ball on the <left|right>
    last = torch.cosine_similarity(word[0, 384:], word[1, 384:], dim=0)
    first = torch.cosine_similarity(word[0, :384], word[1, :384], dim=0)
    assert last > 0.8 and first < 0.6


def test_layers_out_of_range_are_a_clear_error():
    with pytest.raises(ValueError, match="layers"):
        TextEncoder.from_pretrained(max_tokens=16, layers=(9,))
