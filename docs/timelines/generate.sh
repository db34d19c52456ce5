#!/bin/sh
# Draws the timelines of docs/timelines.md again: each example run once, in release, with
# `--timeline`. Run from the repository's root: sh docs/timelines/generate.sh
set -eu
dir=docs/timelines
cargo build -q --release -p examples-process -p examples-pool
bin=target/release
$bin/multitask --timeline $dir/multitask.svg
$bin/daemon_terminate daemon --timeline $dir/daemon_terminate.svg
$bin/pool_apply --timeline $dir/pool_apply.svg
$bin/gil_compare --n 300000000 --timeline $dir/gil_compare.svg
