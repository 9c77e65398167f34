import math

import av
import numpy as np
import pytest
import soundfile
import torch

from statecatcher.data.audio import AudioDecodeError, audio_duration, decode_audio_bytes, load_audio


def tone(rate, seconds=1.0, frequency=440.0):
    t = np.arange(round(rate * seconds)) / rate
    return (0.5 * np.sin(2 * math.pi * frequency * t)).astype(np.float32)


def dominant_frequency(waveform):
    spectrum = torch.fft.rfft(waveform).abs()
    return float(spectrum.argmax()) * 16000 / len(waveform)


def write_mp3(path, samples, rate):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def test_wav_at_16k_is_read_exactly(tmp_path):
    samples = tone(16000)
    soundfile.write(tmp_path / "a.wav", samples, 16000, subtype="FLOAT")
    waveform = load_audio(tmp_path / "a.wav")
    assert waveform.dtype == torch.float32 and waveform.shape == (16000,)
    assert torch.equal(waveform, torch.from_numpy(samples))


def test_stereo_44k_flac_becomes_mono_16k_with_the_same_pitch(tmp_path):
    samples = tone(44100)
    soundfile.write(tmp_path / "a.flac", np.stack([samples, samples], axis=1), 44100)
    waveform = load_audio(tmp_path / "a.flac")
    assert waveform.shape == (16000,)
    assert abs(dominant_frequency(waveform) - 440) <= 1
    assert abs(float(waveform.abs().max()) - 0.5) < 0.01
    assert audio_duration(tmp_path / "a.flac") == (1.0, 44100)


def test_mp3_is_decoded_by_pyav_from_a_file_and_from_bytes(tmp_path):
    write_mp3(tmp_path / "a.mp3", tone(22050, seconds=2.0), 22050)
    from_file = load_audio(tmp_path / "a.mp3")
    from_bytes = decode_audio_bytes((tmp_path / "a.mp3").read_bytes(), "https://host/a.mp3?sig=1")
    assert torch.equal(from_file, from_bytes)
    assert abs(len(from_file) - 32000) < 1200  # mp3 encoder padding
    assert abs(dominant_frequency(from_file) - 440) <= 1
    duration, rate = audio_duration(tmp_path / "a.mp3")
    assert abs(duration - 2.0) < 0.1 and rate == 22050


def test_undecodable_audio_raises_an_error_naming_the_file(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wav" * 10)
    with pytest.raises(AudioDecodeError, match=r"bad\.wav.*soundfile.*pyav") as caught:
        load_audio(tmp_path / "bad.wav")
    assert caught.value.path.endswith("bad.wav")
    with pytest.raises(AudioDecodeError, match="no such file"):
        load_audio(tmp_path / "missing.flac")
    with pytest.raises(AudioDecodeError, match="clip.ogg"):
        decode_audio_bytes(b"", "clip.ogg")


def test_libsndfile_opens_the_path_itself_and_bytes_still_decode(tmp_path, monkeypatch):
    """A Python file object makes libsndfile call back into Python (the GIL) for every read; a path does not."""
    samples = tone(16000)
    soundfile.write(tmp_path / "a b.flac", samples, 16000)
    seen, sound_file = [], soundfile.SoundFile
    monkeypatch.setattr(soundfile, "SoundFile", lambda file, *a, **kw: seen.append(file) or sound_file(file, *a, **kw))
    from_path = load_audio(tmp_path / "a b.flac")
    from_bytes = decode_audio_bytes((tmp_path / "a b.flac").read_bytes(), "a b.flac")
    assert seen[0] == str(tmp_path / "a b.flac") and not isinstance(seen[1], str)
    assert torch.equal(from_path, from_bytes)


def test_on_open_runs_once_the_file_is_open_and_before_its_samples_are_decoded(tmp_path, monkeypatch):
    """What the speechcatcher client starts there (the next download) then runs while the samples decode."""
    soundfile.write(tmp_path / "a.flac", tone(16000), 16000)
    write_mp3(tmp_path / "a.mp3", tone(22050, seconds=2.0), 22050)
    events, read, decode = [], soundfile.SoundFile.read, av.container.InputContainer.decode
    monkeypatch.setattr(soundfile.SoundFile, "read",
                        lambda self, *a, **kw: events.append("decode") or read(self, *a, **kw))
    monkeypatch.setattr(av.container.InputContainer, "decode",
                        lambda self, *a, **kw: events.append("decode") or decode(self, *a, **kw))
    for name in ("a.flac", "a.mp3"):  # libsndfile, then PyAV
        events.clear()
        waveform = load_audio(tmp_path / name, on_open=lambda: events.append("open"))
        assert events == ["open", "decode"], name
        assert torch.equal(waveform, load_audio(tmp_path / name))
