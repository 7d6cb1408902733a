import numpy as np
import pytest

from kino.data.video_io import write_video
from kino.provenance import attacks, c2pa, keys


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("c2pa")
    k = keys.init(folder / "keys")
    plain = folder / "plain.mp4"
    write_video(plain, np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8), 8)
    out = folder / "out.mp4"
    c2pa.sign(plain, out, k, title="out.mp4", model_id="tiny@sha256:0", operation="generate")
    return k, plain, out


def test_signed_output_is_valid_with_the_local_anchor(signed):
    k, _, out = signed
    report = c2pa.read(out, k.root_pem)
    assert report.status == "valid", report
    s = report.summary
    assert s["actions"] == ["c2pa.created"]
    assert s["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    assert s["software_agent"]["name"] == "kino" and s["software_agent"]["version"]
    assert s["model"] == "tiny@sha256:0"
    assert report.signer_serial == k.serial


def test_without_the_anchor_or_with_another_it_is_untrusted(signed, tmp_path):
    _, _, out = signed
    assert c2pa.read(out).status == "untrusted"
    other = keys.init(tmp_path / "other")
    assert c2pa.read(out, other.root_pem).status == "untrusted"


@pytest.mark.parametrize("where", [0.5, 0.9])
def test_a_changed_byte_is_tampering(signed, tmp_path, where):
    k, _, out = signed
    data = bytearray(out.read_bytes())
    mdat = data.find(b"mdat")
    i = mdat + 8 + int((len(data) - mdat - 8) * where) if where > 0.6 else mdat + 8 + 16
    data[i] ^= 0x5A
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    assert c2pa.read(bad, k.root_pem).status == "tampered"


def test_remux_strips_the_manifest_and_unsigned_files_have_none(signed, tmp_path):
    k, plain, out = signed
    stripped = tmp_path / "stripped.mp4"
    stripped.write_bytes(attacks.remux(out.read_bytes()))
    assert c2pa.read(stripped, k.root_pem).status == "missing"
    assert c2pa.read(plain, k.root_pem).status == "missing"


def test_an_edit_names_its_source_as_parent_ingredient(signed, tmp_path):
    k, plain, out = signed
    edited = tmp_path / "edited.mp4"
    c2pa.sign(plain, edited, k, title="edited.mp4", model_id="m", operation="extend", sources=(out,))
    report = c2pa.read(edited, k.root_pem)
    assert report.status == "valid"
    assert report.summary["actions"] == ["c2pa.opened", "c2pa.edited"]
    assert report.summary["ingredients"] == [{"title": "out.mp4", "relationship": "parentOf"}]
    assert report.summary["operation"] == "extend"


def test_a_changed_byte_inside_the_manifest_is_tampering(signed, tmp_path):
    k, _, out = signed
    data = bytearray(out.read_bytes())
    data[data.find(b"c2pa") + 200] ^= 0xFF
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    assert c2pa.read(bad, k.root_pem).status == "tampered"


def test_formats_without_c2pa_support_or_data_are_missing(tmp_path):
    import av
    from PIL import Image

    webm = tmp_path / "clip.webm"
    with av.open(str(webm), "w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode())
    png = tmp_path / "frame.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png)
    assert c2pa.read(webm).status == "missing"
    assert c2pa.read(png).status == "missing"


def test_a_source_c2pa_cannot_read_is_named_instead(signed, tmp_path, caplog):
    import av

    k, plain, _ = signed
    webm = tmp_path / "in.webm"
    with av.open(str(webm), "w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode())
    out = tmp_path / "out.mp4"
    c2pa.sign(plain, out, k, title="out.mp4", model_id="m", operation="extend", sources=(webm,))
    report = c2pa.read(out, k.root_pem)
    assert report.status == "valid" and report.summary["operation"] == "extend"
    assert "in.webm" in caplog.text
