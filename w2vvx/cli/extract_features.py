"""``w2vvx extract-features``: an image folder (or a folder of videos) into a feature BigFile."""
from __future__ import annotations

import sys

import click

MODEL_CHOICES = ("resnet152", "resnet50", "mobilenet_v3_small", "tiny_image", "clip_vit_b32")  # w2vvx.features.backbones.MODELS


@click.command("extract-features")
@click.argument("image_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="The BigFile folder to write, e.g. <root>/<collection>/FeatureData/resnet152.")
@click.option("--model", type=click.Choice(MODEL_CHOICES), default="resnet152", show_default=True,
              help="resnet152: the lineage's pool5 2048-d feature; tiny_image: 12x12 colour cells, no weights "
                   "(offline); clip_vit_b32 needs pip install keras-hub.")
@click.option("--weights", default="imagenet", show_default=True, metavar="imagenet|none|FILE",
              help="imagenet: downloaded by Keras on first use; none: random (tests only); or a local "
                   ".weights.h5/.h5/.keras file.")
@click.option("--image-size", type=click.IntRange(min=32), default=None,
              help="Square input size in pixels (default: the model's, 224).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--videos", is_flag=True,
              help="IMAGE_DIR holds one folder of frames per video, or video files: write frame features with "
                   "video2frames.txt to --out and mean-pooled ones to --mean-out.")
@click.option("--mean-out", type=click.Path(file_okay=False), default=None,
              help="With --videos: the mean-pooled BigFile (default: <out>_mean).")
@click.option("--frame-step", type=click.IntRange(min=1), default=25, show_default=True,
              help="With --videos and video files: keep every N-th frame.")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="With video files: frames per video.")
@click.option("--restart", is_flag=True, help="Discard an unfinished extraction instead of resuming it.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
def command(image_dir, out, model, weights, image_size, batch_size, videos, mean_out, frame_step, max_frames,
            restart, overwrite):
    """Extract one feature vector per image of IMAGE_DIR into a BigFile keyed by file name without extension.

    Batched and resumable: a killed run started again with the same options continues where it stopped;
    the BigFile appears only when every image is done.
    """
    progress = sys.stdout.isatty()
    if videos:
        from w2vvx.features.video import extract_video_features

        frames, pooled = extract_video_features(image_dir, out, mean_out=mean_out, model=model, weights=weights,
                                                image_size=image_size, batch_size=batch_size,
                                                frame_step=frame_step, max_frames=max_frames, overwrite=overwrite,
                                                resume=not restart, progress=progress)
        from w2vvx.io.bigfile import BigFile

        click.echo(f"wrote {frames} ({BigFile(frames).shape[0]} frames, video2frames.txt) and {pooled} "
                   f"({BigFile(pooled).shape[0]} videos x {BigFile(pooled).shape[1]})")
        return
    if mean_out is not None:
        raise click.UsageError("--mean-out goes with --videos")
    from w2vvx.features.extract import extract_image_features
    from w2vvx.io.bigfile import BigFile

    written = extract_image_features(image_dir, out, model=model, weights=weights, image_size=image_size,
                                     batch_size=batch_size, overwrite=overwrite, resume=not restart,
                                     progress=progress)
    rows, dims = BigFile(written).shape
    source = "no weights" if model == "tiny_image" else f"weights {weights}"
    click.echo(f"wrote {written}: {rows} images x {dims} ({model}, {source})")
