"""Text processing: language names, tokenizers, stopwords, vocabularies, word vectors, the sentence featurizer."""
from w2vvx.text.featurizer import SentenceFeaturizer
from w2vvx.text.languages import caption_language, language_of_tag, resolve_language
from w2vvx.text.stopwords import load_stopwords
from w2vvx.text.tokenizers import get_tokenizer, tokenize_captions
from w2vvx.text.vocabulary import Vocabulary
from w2vvx.text.word_vectors import embedding_matrix, load_word_vectors, train_word2vec

__all__ = ["SentenceFeaturizer", "caption_language", "load_stopwords", "get_tokenizer", "language_of_tag",
           "resolve_language", "tokenize_captions", "Vocabulary", "embedding_matrix", "load_word_vectors",
           "train_word2vec"]
