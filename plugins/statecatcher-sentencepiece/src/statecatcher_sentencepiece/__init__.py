"""statecatcher plugin: the ``sentencepiece`` tokenizer (entry-point module: registers names only)."""

from statecatcher import hookimpl


@hookimpl
def register_tokenizers(register):
    register("sentencepiece", "statecatcher_sentencepiece.tokenizer:SentencePieceTokenizer",
             description="sentencepiece unigram/BPE trained on the transcripts; id 0 is the blank")
