//! Peak heap of load + validate + expand + plan at 1,000 / 10,000 / 100,000
//! cells, and bytes per cell: memory must grow linearly with cells.
//!
//! `cargo bench --bench plan_memory`

// A benchmark prints its own numbers; nothing secret passes through it.
#![allow(clippy::disallowed_macros)]

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

use pipeline::plan::Plan;

mod synthetic;

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let mut rows = Vec::new();
    for cells in [1_000, 10_000, 100_000] {
        let s = synthetic::synthetic(cells);
        let _profiler = dhat::Profiler::builder().testing().build();
        let start = std::time::Instant::now();
        let recipe = pipeline::loader::load(&s.recipe).unwrap();
        let all: Vec<pipeline::model::CellId> = recipe.cell_ids().collect();
        let plan = Plan::new(&recipe, recipe.build.backend.steps(), &all);
        let elapsed = start.elapsed();
        let stats = dhat::HeapStats::get();
        assert_eq!(recipe.cells.len(), cells);
        rows.push((cells, plan.len(), stats.max_bytes, elapsed));
        drop(plan);
        drop(recipe);
    }
    println!(
        "{:>8} {:>8} {:>12} {:>10} {:>10}",
        "cells", "steps", "peak heap", "B/cell", "time"
    );
    for (cells, steps, peak, elapsed) in &rows {
        println!(
            "{cells:>8} {steps:>8} {:>10.1}MB {:>10} {:>8.1}ms",
            *peak as f64 / 1e6,
            peak / cells,
            elapsed.as_secs_f64() * 1e3
        );
    }
    let per_cell: Vec<f64> = rows.iter().map(|r| r.2 as f64 / r.0 as f64).collect();
    println!(
        "bytes per cell, 100,000 vs 1,000 cells: ratio {:.2} (1.00 = perfectly linear)",
        per_cell[2] / per_cell[0]
    );
}
