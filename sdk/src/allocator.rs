//! The component's memory allocator: size classes in front of the system
//! allocator.
//!
//! Every call of a policy allocates and frees the same handful of small
//! blocks: the host writes each string of the request into memory it asks
//! the component for, and the component frees them all when the call
//! returns. With the system allocator (dlmalloc) each of those costs a
//! hundred or more Wasm instructions, which made up most of a simple
//! policy's fuel. Here a block of up to [`LARGEST`] bytes comes from a free
//! list of its size class (16, 32, .. 2048 bytes) in a few instructions;
//! larger or over-aligned blocks go to the system allocator as before.
//!
//! A freed small block stays on its class's list for reuse and is not
//! handed back to the system allocator. A policy's small-block memory is
//! therefore the peak it ever needed per class, which its memory limit
//! bounds like any other use.
//!
//! Compiled only for single-threaded WebAssembly (`wasm32` without the
//! `atomics` feature), where no two calls can run at once. Turn it off
//! with `default-features = false` to install an allocator of your own.
#![expect(
    unsafe_code,
    reason = "a global allocator is unsafe by contract; the invariants are stated at each block"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// The smallest class, in bytes, as a power of two: a block must hold the
/// free list's next pointer, and 16 keeps every block 16-byte aligned.
const SMALLEST_SHIFT: u32 = 4;
/// The largest block served from a size class.
const LARGEST: usize = 2048;
/// 16, 32, 64, 128, 256, 512, 1024, 2048.
const CLASSES: usize = 8;
/// Every small block's alignment.
const ALIGN: usize = 16;

/// Size-class free lists over [`System`]. Not thread-safe: see `Sync`.
#[derive(Debug)]
pub(crate) struct SizeClasses {
    /// The head of each class's free list; a free block's first word holds
    /// the next free block (or null).
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

// SAFETY: the crate installs this allocator only on wasm32 without
// atomics, where there is exactly one thread, and does not export the
// type; its own tests use their instances from one thread. No two
// accesses can race.
unsafe impl Sync for SizeClasses {}

impl SizeClasses {
    /// Empty lists.
    pub(crate) const fn new() -> Self {
        SizeClasses {
            free: UnsafeCell::new([ptr::null_mut(); CLASSES]),
        }
    }
}

/// The class of a block, if it is small enough and not over-aligned.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() > LARGEST || layout.align() > ALIGN {
        return None;
    }
    let size = layout.size().max(1 << SMALLEST_SHIFT);
    // ceil(log2(size)) - SMALLEST_SHIFT: 16 -> 0, 17..=32 -> 1, 2048 -> 7.
    let bits = usize::BITS - (size - 1).leading_zeros();
    Some((bits - SMALLEST_SHIFT) as usize)
}

/// The layout the system allocator gives a class's blocks.
fn class_layout(class: usize) -> Layout {
    // Sizes 16..=2048 with alignment 16 are always valid layouts.
    match Layout::from_size_align((1 << SMALLEST_SHIFT) << class, ALIGN) {
        Ok(layout) => layout,
        Err(_) => Layout::new::<u128>(),
    }
}

// SAFETY: every block handed out is either a fresh system block of at
// least the class size with alignment 16 (so it satisfies any layout of
// that class), a block of the same class returned earlier by `dealloc`,
// or a system block for the caller's own layout. Blocks are returned to
// the allocator they came from, which `class_of(layout)` decides the same
// way on `alloc` and `dealloc` (the caller passes the same layout).
unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller's contract, passed through.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: single-threaded (see `Sync`), and no reference into the
        // lists outlives this call.
        let free = unsafe { &mut *self.free.get() };
        let Some(head) = free.get_mut(class) else {
            return ptr::null_mut();
        };
        if head.is_null() {
            // SAFETY: a valid, non-zero-sized layout.
            return unsafe { System.alloc(class_layout(class)) };
        }
        let block = *head;
        // SAFETY: a free block of this class, 16-byte aligned, whose first
        // word `dealloc` set to the next free block.
        *head = unsafe { block.cast::<*mut u8>().read() };
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: allocated by `System` with this layout (see `alloc`).
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: as in `alloc`.
        let free = unsafe { &mut *self.free.get() };
        if let Some(head) = free.get_mut(class) {
            // SAFETY: the block is ours again, at least 16 bytes and
            // 16-byte aligned: its first word can hold the list's link.
            unsafe { block.cast::<*mut u8>().write(*head) };
            *head = block;
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = class_of(layout);
        // SAFETY: `new_size` with the old alignment is a valid layout by
        // the caller's contract.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = class_of(new_layout);
        match (old, new) {
            // Still fits the block it has.
            (Some(a), Some(b)) if a == b => block,
            // Neither is small: the system allocator can grow in place.
            // SAFETY: allocated by `System` with `layout`.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: a valid layout; the copy covers only bytes both
                // blocks own; the old block is freed with its own layout.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_powers_of_two_from_16_to_2048() {
        let class = |size, align| Layout::from_size_align(size, align).ok().and_then(class_of);
        for (size, align, want) in [
            (0, 1, Some(0)),
            (1, 1, Some(0)),
            (16, 8, Some(0)),
            (17, 1, Some(1)),
            (32, 16, Some(1)),
            (1024, 4, Some(6)),
            (1025, 4, Some(7)),
            (2048, 16, Some(7)),
            (2049, 1, None),
            (64, 32, None),
        ] {
            assert_eq!(class(size, align), want, "size {size} align {align}");
        }
        for c in 0..CLASSES {
            let layout = class_layout(c);
            assert_eq!(class_of(layout), Some(c));
            assert_eq!(layout.align(), ALIGN);
        }
    }

    /// Random allocations, frees and reallocs of 1 byte to 5 KB (both
    /// sides of every class edge and of the system's share), each block
    /// filled with its own byte and checked before it is freed or moved:
    /// no block overlaps another or loses its contents.
    #[test]
    fn random_traffic_keeps_every_block_intact() {
        let a = SizeClasses::new();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        // (pointer, layout, fill byte)
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let check = |p: *mut u8, layout: Layout, fill: u8| {
            // SAFETY: a live block of `layout`, written in full with `fill`.
            let bytes = unsafe { std::slice::from_raw_parts(p, layout.size()) };
            assert!(
                bytes.iter().all(|b| *b == fill),
                "block of {layout:?} was overwritten"
            );
        };
        for step in 0..50_000u32 {
            let fill = (step % 251) as u8;
            let size = match next(4) {
                0 => 1 + next(16),
                1 => 1 + next(2048),
                2 => 2000 + next(100),
                _ => 1 + next(5000),
            } as usize;
            let align = [1, 2, 4, 8, 16, 32][next(6) as usize];
            let Ok(layout) = Layout::from_size_align(size, align) else {
                continue;
            };
            match next(3) {
                0 if !live.is_empty() => {
                    let (p, old, old_fill) = live.swap_remove(next(live.len() as u64) as usize);
                    check(p, old, old_fill);
                    // SAFETY: allocated by `a` with `old`.
                    unsafe { a.dealloc(p, old) };
                }
                1 if !live.is_empty() => {
                    let i = next(live.len() as u64) as usize;
                    let (p, old, old_fill) = live.swap_remove(i);
                    check(p, old, old_fill);
                    // SAFETY: allocated by `a` with `old`; the new size with
                    // the old alignment is a valid layout.
                    let q = unsafe { a.realloc(p, old, size) };
                    assert!(!q.is_null());
                    let grown = Layout::from_size_align(size, old.align()).unwrap_or(old);
                    let kept = old.size().min(size);
                    // SAFETY: `q` holds `grown`; its first `kept` bytes came
                    // from the old block.
                    unsafe {
                        let moved = std::slice::from_raw_parts(q, kept);
                        assert!(moved.iter().all(|b| *b == old_fill), "realloc lost bytes");
                        q.write_bytes(fill, grown.size());
                    }
                    live.push((q, grown, fill));
                }
                _ => {
                    // SAFETY: a non-zero-sized layout; the block is filled
                    // within it.
                    let p = unsafe { a.alloc(layout) };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % layout.align(), 0, "misaligned for {layout:?}");
                    unsafe { p.write_bytes(fill, size) };
                    live.push((p, layout, fill));
                }
            }
        }
        for (p, layout, fill) in live {
            check(p, layout, fill);
            // SAFETY: allocated by `a` with `layout`.
            unsafe { a.dealloc(p, layout) };
        }
    }

    #[test]
    fn reuses_freed_blocks_and_keeps_contents_on_realloc() {
        // Exercised natively in one thread (the test owns its allocator).
        let a = SizeClasses::new();
        let layout = Layout::from_size_align(24, 8).unwrap_or(Layout::new::<u64>());
        // SAFETY: a private allocator, used only from this thread; every
        // block is written within its layout and freed with it.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            a.dealloc(p, layout);
            let q = a.alloc(layout);
            assert_eq!(p, q, "a freed block of the class is reused");
            for i in 0..24 {
                q.add(i).write(i as u8);
            }
            // Within the class: the same block.
            let r = a.realloc(q, layout, 30);
            assert_eq!(r, q);
            // Into a larger class, then beyond the classes: moved, kept.
            let grown = Layout::from_size_align_unchecked(30, 8);
            let s = a.realloc(r, grown, 500);
            let big = a.realloc(s, Layout::from_size_align_unchecked(500, 8), 5000);
            for i in 0..24 {
                assert_eq!(big.add(i).read(), i as u8);
            }
            a.dealloc(big, Layout::from_size_align_unchecked(5000, 8));
        }
    }
}
