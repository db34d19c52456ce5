#!/bin/sh
# Draws the README's timelines again: each example run once, in release, with
# `--timeline`. Run from the repository's root: sh docs/timelines/generate.sh
set -eu
dir=docs/timelines
cargo build -q --release -p examples-process -p examples-pool
bin=target/release
$bin/multitask --timeline $dir/multitask.svg
$bin/daemon_terminate daemon --timeline $dir/daemon_terminate.svg
$bin/pool_async --timeline $dir/pool_async.svg
$bin/gil_compare --n 300000000 --timeline $dir/gil_compare.svg
