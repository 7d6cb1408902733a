import pytest
import torch

from kino.config import preset
from kino.models.vae import VideoVAE, channels_to_time, frames_to_latent_frames, time_to_channels


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VideoVAE(preset("tiny").vae).eval()


@pytest.mark.parametrize("frames", [1, 5, 9, 13])
def test_shapes_for_odd_lengths(vae, frames):
    x = torch.rand(2, 3, frames, 48, 64) * 2 - 1
    with torch.no_grad():
        z = vae.encode(x)
        y = vae.decode(z)
    assert z.shape == (2, vae.cfg.latent_channels, frames_to_latent_frames(frames), 6, 8)
    assert y.shape == x.shape


def test_rejects_lengths_not_one_plus_multiple_of_four(vae):
    with pytest.raises(ValueError, match="1 \\+ 4k frames"):
        vae.encode(torch.zeros(1, 3, 6, 32, 32))


def test_time_packing_round_trip():
    x = torch.randn(1, 2, 9, 4, 4)
    assert torch.equal(channels_to_time(time_to_channels(x, 4), 4), x)


@pytest.mark.parametrize("k", [0, 1, 4, 5, 8])
def test_encoder_is_causal(vae, k):
    """Changing frame k never changes a latent that covers only earlier frames."""
    x = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    x2 = x.clone()
    x2[:, :, k] = torch.rand(3, 32, 32) * 2 - 1
    with torch.no_grad():
        z, z2 = vae.encode(x), vae.encode(x2)
    first_affected = 0 if k == 0 else 1 + (k - 1) // 4  # latent j covers frames 4j-3 .. 4j
    assert torch.equal(z[:, :, :first_affected], z2[:, :, :first_affected])
    assert not torch.allclose(z[:, :, first_affected], z2[:, :, first_affected])


def test_decoder_is_causal(vae):
    z = torch.randn(1, vae.cfg.latent_channels, 3, 4, 4)
    z2 = z.clone()
    z2[:, :, 2] += 1.0
    with torch.no_grad():
        y, y2 = vae.decode(z), vae.decode(z2)
    assert torch.equal(y[:, :, :5], y2[:, :, :5])  # frames 0..4 come from latents 0 and 1
    assert not torch.equal(y[:, :, 5:], y2[:, :, 5:])


def test_image_is_a_one_frame_video(vae):
    x = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(vae.encode(x[:, :, :1]), vae.encode(x)[:, :, :1], atol=1e-5)
