package doppel

import "sync"

// handle guards a library pointer: calls share a read lock, so many may run at once, and
// release takes the write lock, so it waits for them and no call ever sees a freed pointer.
type handle[T any] struct {
	mu  sync.RWMutex
	ptr *T
}

// use runs f with the live pointer, or returns the closed error naming method.
func (h *handle[T]) use(method string, f func(*T) error) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.ptr == nil {
		return closedError(method)
	}
	return f(h.ptr)
}

// release frees the pointer once, after every call in flight has returned; later calls
// find it nil.
func (h *handle[T]) release(free func(*T)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr != nil {
		free(h.ptr)
		h.ptr = nil
	}
}
