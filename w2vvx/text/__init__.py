"""Text processing: tokenizers, stopwords, vocabularies, word vectors and the sentence featurizer."""
from w2vvx.text.featurizer import SentenceFeaturizer
from w2vvx.text.stopwords import load_stopwords
from w2vvx.text.tokenizers import get_tokenizer, language_of_tag
from w2vvx.text.vocabulary import Vocabulary
from w2vvx.text.word_vectors import embedding_matrix, load_word_vectors, train_word2vec

__all__ = ["SentenceFeaturizer", "load_stopwords", "get_tokenizer", "language_of_tag", "Vocabulary",
           "embedding_matrix", "load_word_vectors", "train_word2vec"]
