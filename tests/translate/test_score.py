"""ROUGE-L, BLEURT and `signmusketeers score` against sacrebleu and rouge-score run directly on the same lines."""

import json

import numpy as np
import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

from signmusketeers.cli import main
from signmusketeers.translate.metrics import Bleurt, BleurtError, RougeL, corpus_scores
from signmusketeers.translate.score import HypothesesError, read_hypotheses, score

REFERENCES = [
    "The cat sat on the mat.",
    "A dog is running in the park.",
    "Hello, world!",
    "I see you every day.",
    "My mother reads a red book.",
    "We eat apples in the morning.",
    "nothing here",
    "Thank you very much.",
] * 3
SYSTEM = [
    "the cat sat on the mat",
    "a dog runs in a park",
    "hello world",
    "I see you each day",
    "my mother reads the red book",
    "we eat apples",
    "",
    "thank you so much",
] * 3
BASELINE = [
    "a cat is on the mat",
    "the dog",
    "hello there",
    "you see me",
    "mother read book",
    "apples morning",
    "something",
    "thanks",
] * 3


def write(path, hypotheses, references=REFERENCES, order=None):
    order = order or range(len(hypotheses))
    with open(path, "w") as handle:
        for i in order:
            handle.write(
                json.dumps({"clip_id": f"c{i:02d}", "reference": references[i], "hypothesis": hypotheses[i]}) + "\n"
            )
    return path


def rouge_direct(hypotheses, references) -> np.ndarray:
    scorer = RougeScorer(["rougeL"])
    return np.array([scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references)]) * 100


def sacrebleu_ci(values: np.ndarray) -> tuple[float, float]:
    """sacrebleu's bootstrap of a mean of per-sentence values: its seeded indices, its percentile rule."""
    rng = np.random.default_rng(12345)
    idxs = rng.choice(len(values), size=(1000, len(values)), replace=True)
    means = np.sort(values.astype(np.float32)[idxs].sum(1) / len(values))
    lower = len(means) // 40
    return float(means.mean()), 0.5 * float(means[len(means) - lower - 1] - means[lower])


def test_rouge_l_is_rouge_score_mean_f1():
    assert RougeL().corpus_score(SYSTEM, [REFERENCES]).score == pytest.approx(rouge_direct(SYSTEM, REFERENCES).mean())
    assert corpus_scores(SYSTEM, REFERENCES)["rouge_l"] == pytest.approx(rouge_direct(SYSTEM, REFERENCES).mean())
    assert RougeL().corpus_score(["The CAT, sat!"], [["the cat sat"]]).score == pytest.approx(
        100.0
    )  # rouge-score's tokens


def test_score_agrees_with_sacrebleu_and_rouge_score(tmp_path):
    report = score(read_hypotheses(write(tmp_path / "sys.jsonl", SYSTEM)))
    for n in (1, 2, 3, 4):
        direct = BLEU(max_ngram_order=n).corpus_score(SYSTEM, [REFERENCES], n_bootstrap=1000)
        assert report[f"bleu{n}"]["score"] == direct.score
        assert (report[f"bleu{n}"]["mean"], report[f"bleu{n}"]["ci"]) == (direct._mean, direct._ci)
    assert report["bleu4"]["score"] == sacrebleu.corpus_bleu(SYSTEM, [REFERENCES]).score
    chrf = CHRF().corpus_score(SYSTEM, [REFERENCES], n_bootstrap=1000)
    assert (report["chrf"]["score"], report["chrf"]["mean"], report["chrf"]["ci"]) == (chrf.score, chrf._mean, chrf._ci)
    per_sentence = rouge_direct(SYSTEM, REFERENCES)
    assert report["rouge_l"]["score"] == pytest.approx(per_sentence.mean())
    mean, ci = sacrebleu_ci(per_sentence)
    assert report["rouge_l"]["mean"] == pytest.approx(mean, abs=1e-4) and report["rouge_l"]["ci"] == pytest.approx(
        ci, abs=1e-4
    )
    assert "bs:1000" in report["bleu4"]["signature"] and "tok:13a" in report["bleu4"]["signature"]
    assert "tok:rouge-score" in report["rouge_l"]["signature"] and "bs:1000" in report["rouge_l"]["signature"]


def test_paired_bootstrap_matches_sacrebleu(tmp_path):
    system = read_hypotheses(write(tmp_path / "sys.jsonl", SYSTEM))
    # the baseline file lists the clips in another order: they are paired by clip_id
    baseline = read_hypotheses(write(tmp_path / "base.jsonl", BASELINE, order=reversed(range(len(BASELINE)))))
    report = score(system, baseline)
    for key, metric in (("bleu4", BLEU()), ("bleu1", BLEU(max_ngram_order=1)), ("chrf", CHRF())):
        _, results = PairedTest(
            [("b", BASELINE), ("s", SYSTEM)], {key: metric}, [REFERENCES], test_type="bs", n_samples=1000
        )()
        base, ours = next(v for k, v in results.items() if k != "System")
        assert report[key]["p_value"] == ours.p_value and report[key]["ci"] == ours.ci
        assert report[key]["baseline"]["score"] == base.score
    # ROUGE-L: the same resampled indices and the same test statistic as sacrebleu's paired test, by hand
    ours, theirs = rouge_direct(SYSTEM, REFERENCES), rouge_direct(BASELINE, REFERENCES)
    idxs = np.random.default_rng(12345).choice(len(ours), size=(1000, len(ours)), replace=True)
    sample_diffs = np.abs(ours.astype(np.float32)[idxs].mean(1) - theirs.astype(np.float32)[idxs].mean(1))
    p = (np.sum(sample_diffs - sample_diffs.mean() > abs(ours.mean() - theirs.mean())) + 1) / 1001
    assert report["rouge_l"]["p_value"] == pytest.approx(p)
    assert report["rouge_l"]["significant"] is bool(p < 0.05) and report["rouge_l"]["significant"]
    # a system against itself: sacrebleu's degenerate p = 1/1001, but no difference is not a significant one
    same = score(system, read_hypotheses(write(tmp_path / "same.jsonl", SYSTEM)))
    assert same["bleu4"]["p_value"] == pytest.approx(1 / 1001)
    assert not any(row["significant"] for row in same.values())


def test_score_command_json_table_and_errors(tmp_path, capsys):
    system, baseline = write(tmp_path / "sys.jsonl", SYSTEM), write(tmp_path / "base.jsonl", BASELINE)
    assert main(["score", str(system), "--baseline", str(baseline), "--bootstrap", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["metrics"]) == {"bleu1", "bleu2", "bleu3", "bleu4", "chrf", "rouge_l"}
    assert out["metrics"]["bleu4"]["score"] == sacrebleu.corpus_bleu(SYSTEM, [REFERENCES]).score
    assert out["metrics"]["bleu4"]["significant"] is True and out["clips"] == len(SYSTEM)
    assert main(["score", str(system), "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    assert "ROUGE-L" in text and "BLEURT: not computed" in text and "tok:13a" in text

    (tmp_path / "bad.jsonl").write_text('{"clip_id": "a", "reference": "x", "hypothesis": "y"}\n{"clip_id": "b"}\n')
    assert main(["score", str(tmp_path / "bad.jsonl")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"signmusketeers score: {tmp_path / 'bad.jsonl'}: line 2: missing reference, hypothesis"
    )
    other = write(tmp_path / "other.jsonl", BASELINE[:5], REFERENCES[:5])
    assert main(["score", str(system), "--baseline", str(other)]) == 2
    assert "does not hold the same clips" in capsys.readouterr().err
    changed = write(tmp_path / "changed.jsonl", BASELINE, ["another reference"] * len(BASELINE))
    assert main(["score", str(system), "--baseline", str(changed)]) == 2
    assert "has another reference" in capsys.readouterr().err
    translated = tmp_path / "translated.jsonl"  # `translate manifest --output` lines score as they are
    translated.write_text(
        "".join(
            json.dumps({"video": "v.mp4", "text": h, "clip_id": f"c{i}", "reference": r, "seconds": {}}) + "\n"
            for i, (h, r) in enumerate(zip(SYSTEM, REFERENCES))
        )
    )
    assert read_hypotheses(translated).hypotheses == SYSTEM
    with pytest.raises(HypothesesError, match="no such file"):
        read_hypotheses(tmp_path / "absent.jsonl")
    # a BLEURT checkpoint that is not there: one line, the other metrics still printed, exit 1
    assert main(["score", str(system), "--bleurt", str(tmp_path / "no-bleurt"), "--bootstrap", "20", "--json"]) == 1
    captured = capsys.readouterr()
    assert (
        captured.err.strip()
        == f"signmusketeers score: BLEURT not computed: {tmp_path / 'no-bleurt'}: no such BLEURT checkpoint folder"
    )
    assert "bleu4" in json.loads(captured.out)["metrics"]


@pytest.fixture(scope="module")
def tiny_bleurt(tmp_path_factory):
    """A random BERT regressor with one output and a word-piece vocabulary: BLEURT's architecture and file layout
    (BERT-format conversions of Google's checkpoints), tiny."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path_factory.mktemp("bleurt")
    words = sorted({w.strip(".,!").lower() for line in REFERENCES + SYSTEM for w in line.split()} - {""})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "!"] + words))
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=8 + len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    return folder


def test_bleurt_scores_reference_candidate_pairs(tiny_bleurt, tmp_path, capsys):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bleurt)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bleurt).eval()
    with torch.no_grad():
        direct = [model(**tokenizer(r, h, return_tensors="pt")).logits[0, 0].item() for h, r in zip(SYSTEM, REFERENCES)]
    metric = Bleurt(str(tiny_bleurt), batch_size=5, device="cpu")  # padding across batches leaves scores unchanged
    assert metric.corpus_score(SYSTEM, [REFERENCES]).score == pytest.approx(np.mean(direct), abs=1e-5)
    assert (
        main(
            [
                "score",
                str(write(tmp_path / "sys.jsonl", SYSTEM)),
                "--bleurt",
                str(tiny_bleurt),
                "--json",
                "--bootstrap",
                "20",
            ]
        )
        == 0
    )
    row = json.loads(capsys.readouterr().out)["metrics"]["bleurt"]
    assert row["score"] == pytest.approx(np.mean(direct), abs=1e-5) and str(tiny_bleurt) in row["signature"]


def test_bleurt_refuses_a_classifier(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]))
    BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    BertForSequenceClassification(
        BertConfig(
            vocab_size=6, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, num_labels=3
        )
    ).save_pretrained(tmp_path)
    with pytest.raises(BleurtError, match="3 outputs"):
        Bleurt(str(tmp_path))


def test_test_stage_logs_rouge_l(tmp_path, feature_shards):
    import lightning
    import torch

    from signmusketeers.data import ClipFeatureDataModule
    from signmusketeers.translate import TranslationModule
    from tests.translate.conftest import TINY_T5

    torch.manual_seed(0)
    module = TranslationModule(
        t5=TINY_T5,
        tokenizer="byt5",
        num_beams=1,
        max_new_tokens=6,
        feature_dim=384,
        hypotheses_path=str(tmp_path / "hyp.jsonl"),
    )
    data = ClipFeatureDataModule(test=str(feature_shards["val"]), eval_batch_size=4, num_workers=0)
    trainer = lightning.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        accelerator="cpu",
        default_root_dir=str(tmp_path),
    )
    logged = trainer.test(module, datamodule=data, verbose=False)[0]
    rows = [json.loads(line) for line in (tmp_path / "hyp.jsonl").read_text().splitlines()]
    expected = rouge_direct([r["hypothesis"] for r in rows], [r["reference"] for r in rows]).mean()
    assert logged["test/rouge_l"] == pytest.approx(expected, abs=1e-4)
    assert logged["test/bleu4"] == pytest.approx(
        sacrebleu.corpus_bleu([r["hypothesis"] for r in rows], [[r["reference"] for r in rows]]).score, abs=1e-4
    )
