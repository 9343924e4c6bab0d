import torch

from signmusketeers.translate import TranslationModule
from signmusketeers.translate.datamodule import FeatureCollator
from tests.translate.conftest import TINY_T5, make_record


def tiny_module(**kwargs) -> TranslationModule:
    torch.manual_seed(0)
    return TranslationModule(t5=TINY_T5, tokenizer="byt5", num_beams=2, max_new_tokens=12, **kwargs)


def batch_of(module, lengths):
    return FeatureCollator(module.tokenizer)([make_record(i, n) for i, n in enumerate(lengths)])


def test_loss_and_generation_shapes():
    module = tiny_module()
    batch = batch_of(module, [4, 7])
    assert module.embed(batch).shape == (2, 7, 32)
    loss = module(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert module.fusion.projections["face"].weight.grad is not None
    texts = module.generate(batch)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_padding_does_not_change_encoder_output_of_real_frames():
    module = tiny_module().eval()
    batch = batch_of(module, [5])
    padded = batch_of(module, [5, 11])  # clip 0 padded from 5 to 11 frames
    padded_first = {k: v[:1] for k, v in padded.items() if k != "truncated"}

    def encode(b):
        return module.t5.encoder(inputs_embeds=module.embed(b), attention_mask=b["attention_mask"]).last_hidden_state

    with torch.no_grad():
        alone, with_padding = encode(batch), encode(padded_first)
        assert with_padding.shape[1] == 11
        torch.testing.assert_close(with_padding[:, :5], alone, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(module(padded_first), module(batch), rtol=1e-5, atol=1e-5)
        assert module.generate(batch) == module.generate(padded_first)


def test_stream_choice_is_respected():
    module = tiny_module(streams=["left", "right"])
    assert set(module.fusion.projections) == {"left", "right"}
    batch = batch_of(module, [3])
    batch.pop("face")
    batch.pop("pose")
    assert torch.isfinite(module(batch))
