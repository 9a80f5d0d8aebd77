package doppel

import "sync"

// handle guards a library pointer. Calls in flight are counted; release marks the handle
// closed at once, and the pointer is freed when the last call in flight returns. So no call
// ever sees a freed pointer, and Close never blocks: it may be called from a progress function
// or while another goroutine generates, without deadlock.
type handle[T any] struct {
	mu       sync.Mutex
	ptr      *T
	inFlight int
	closed   bool
	free     func(*T)
}

// use runs f with the live pointer, or returns the closed error naming method.
func (h *handle[T]) use(method string, f func(*T) error) error {
	h.mu.Lock()
	if h.closed || h.ptr == nil {
		h.mu.Unlock()
		return closedError(method)
	}
	h.inFlight++
	ptr := h.ptr
	h.mu.Unlock()
	defer h.done()
	return f(ptr)
}

// done ends one call, freeing the pointer if the handle was closed meanwhile.
func (h *handle[T]) done() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inFlight--
	h.freeIfIdle()
}

// release closes the handle once: later calls find it closed, and free runs now or when the
// last call in flight returns.
func (h *handle[T]) release(free func(*T)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed, h.free = true, free
	h.freeIfIdle()
}

// freeIfIdle frees a closed handle's pointer once no call uses it; h.mu is held.
func (h *handle[T]) freeIfIdle() {
	if h.closed && h.inFlight == 0 && h.ptr != nil {
		h.free(h.ptr)
		h.ptr = nil
	}
}
