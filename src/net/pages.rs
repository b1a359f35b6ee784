//! # Socket buffers on pages of their own
//!
//! Layer: network (stack owner's memory). A TCP socket's buffers are as large as the window it
//! offers (the lab's 64 KiB is the lesson), but a connection uses only part of them: the sender
//! of a file never fills its receive buffer, the receiver never its send buffer, a listing fills
//! one page, and a socket in TIME-WAIT needs none for its 2 MSL. Taken from the heap, every byte
//! of them is memory (the allocator zeroes reused chunks). [`SocketPages`] instead maps each large
//! buffer as anonymous pages of its own: the kernel backs a page only once a byte passes through
//! it, gives the pages back when the socket is done with them ([`SocketPages::release`], the
//! buffers empty and the connection over: TIME-WAIT or CLOSED), and unmaps them when the socket
//! is removed. A kernel's socket buffers behave alike: memory follows the bytes in flight, not
//! the window. Buffers below [`MAP_AT_LEAST`] (the control connections') stay on the heap.

use std::ptr::NonNull;

/// Buffers of at least this many bytes get pages of their own.
pub const MAP_AT_LEAST: usize = 16 * 1024;

/// One anonymous private mapping.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes (rounded up to whole pages by the kernel), zeroed and not yet backed.
    fn new(len: usize) -> Option<Mapping> {
        if len == 0 {
            return None;
        }
        // SAFETY: an anonymous private mapping at an address the kernel picks; no file, no
        // existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(ptr.cast::<u8>()).map(|ptr| Mapping { ptr, len })
    }

    /// Drops the pages' contents: the kernel frees them, and they read as zeros if touched
    /// again.
    fn discard(&self) {
        // SAFETY: the range is this mapping's own. Its bytes become zeros; the socket that
        // holds them reads none while its queues are empty (see `SocketPages::release`).
        unsafe {
            libc::madvise(self.ptr.as_ptr().cast(), self.len, libc::MADV_DONTNEED);
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `Mapping::new` with this length, and its slice is no
        // longer used (see `SocketPages`).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// The mapped buffers of one socket. The socket borrows them for as long as it lives: drop a
/// `SocketPages` only after the socket that uses them (the [`crate::net::host::Host`] removes
/// the socket from its set first, and declares its sockets before their pages so that its own
/// drop does the same).
#[derive(Debug, Default)]
pub struct SocketPages {
    maps: Vec<Mapping>,
    /// The pages were given back since the socket last held bytes.
    released: bool,
}

impl SocketPages {
    /// A buffer of `len` bytes for a socket: pages of its own from [`MAP_AT_LEAST`] on (kept in
    /// `self`), else (or if the kernel refuses a mapping) a vector on the heap.
    ///
    /// # Safety
    ///
    /// The buffer borrows `self`'s pages although its type says `'static`: the caller must drop
    /// the buffer (and the socket holding it) before it drops `self`.
    pub unsafe fn buffer(&mut self, len: usize) -> smoltcp::socket::tcp::SocketBuffer<'static> {
        if len >= MAP_AT_LEAST
            && let Some(map) = Mapping::new(len)
        {
            // SAFETY: the mapping is `len` bytes, readable and writable, zeroed, and used by
            // nobody else; it stays mapped until `self` is dropped, which the caller does only
            // once the socket holding this slice is gone (this function's contract).
            let slice: &'static mut [u8] =
                unsafe { std::slice::from_raw_parts_mut(map.ptr.as_ptr(), len) };
            self.maps.push(map);
            return smoltcp::socket::tcp::SocketBuffer::new(slice);
        }
        smoltcp::socket::tcp::SocketBuffer::new(vec![0; len])
    }

    /// Whether any buffer is mapped.
    pub fn is_mapped(&self) -> bool {
        !self.maps.is_empty()
    }

    /// After a poll: gives the pages back to the kernel when the connection no longer needs
    /// them (`done`: TIME-WAIT or CLOSED) and `empty` (nothing queued either way, so no byte
    /// of them is read again before it is written). A socket that is used again (listens, or
    /// holds bytes) has its pages backed anew as bytes pass. Returns whether pages were given
    /// back now.
    pub fn release(&mut self, done: bool, empty: bool) -> bool {
        if !(done && empty) {
            self.released = false;
            return false;
        }
        if self.released || self.maps.is_empty() {
            return false;
        }
        for map in &self.maps {
            map.discard();
        }
        self.released = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_stay_on_the_heap_and_large_ones_are_mapped() {
        let mut pages = SocketPages::default();
        // SAFETY: the buffers are dropped before `pages`.
        let small = unsafe { pages.buffer(8 * 1024) };
        assert_eq!(small.capacity(), 8 * 1024);
        assert!(!pages.is_mapped());
        let large = unsafe { pages.buffer(65_535) };
        assert_eq!(large.capacity(), 65_535);
        assert!(pages.is_mapped());
        drop((small, large));
    }

    #[test]
    fn released_pages_read_as_zeros_and_take_bytes_again() {
        let mut pages = SocketPages::default();
        // SAFETY: the buffer is dropped before `pages`.
        let mut buf = unsafe { pages.buffer(MAP_AT_LEAST) };
        assert_eq!(buf.enqueue_slice(b"hello"), 5);
        let mut out = [0u8; 5];
        assert_eq!(buf.dequeue_slice(&mut out), 5);
        assert_eq!(&out, b"hello");
        // Not done: nothing is given back.
        assert!(!pages.release(false, true));
        assert!(pages.release(true, true));
        // Once only, until the socket holds bytes again.
        assert!(!pages.release(true, true));
        assert!(!pages.release(true, false));
        assert!(pages.release(true, true));
        assert_eq!(buf.enqueue_slice(b"again"), 5);
        let mut out = [0u8; 5];
        assert_eq!(buf.dequeue_slice(&mut out), 5);
        assert_eq!(&out, b"again");
        drop(buf);
    }

    #[test]
    fn a_mapped_buffer_wraps_around_like_a_vector() {
        let mut pages = SocketPages::default();
        // SAFETY: the buffer is dropped before `pages`.
        let mut mapped = unsafe { pages.buffer(MAP_AT_LEAST) };
        let mut heap = smoltcp::socket::tcp::SocketBuffer::new(vec![0; MAP_AT_LEAST]);
        let chunk: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for _ in 0..7 {
            assert_eq!(mapped.enqueue_slice(&chunk), heap.enqueue_slice(&chunk));
            let (mut a, mut b) = (vec![0u8; 9_000], vec![0u8; 9_000]);
            assert_eq!(mapped.dequeue_slice(&mut a), heap.dequeue_slice(&mut b));
            assert_eq!(a, b);
        }
        drop(mapped);
    }
}
