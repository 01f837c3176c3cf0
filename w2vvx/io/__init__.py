"""Data formats of the W2VV lineage: BigFile features, caption files, ImageSets, collections."""
from w2vvx.io.bigfile import BigFile, BigFileWriter, write_bigfile
from w2vvx.io.bigfile_convert import hdf5_to_bigfile, npy_to_bigfile, txt2bin
from w2vvx.io.captions import Caption, parse_sentence_id, read_captions, strip_extension, write_captions
from w2vvx.io.collection import Collection, SplitCollections
from w2vvx.io.frames import mean_pool_frames, read_video2frames
from w2vvx.io.imagesets import read_imageset, write_imageset

__all__ = ["BigFile", "BigFileWriter", "write_bigfile", "txt2bin", "npy_to_bigfile", "hdf5_to_bigfile",
           "Caption", "parse_sentence_id", "read_captions", "write_captions", "strip_extension",
           "Collection", "SplitCollections", "read_video2frames", "mean_pool_frames", "read_imageset",
           "write_imageset"]
