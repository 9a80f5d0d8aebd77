package dev.doppel;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.LongConsumer;
import java.util.function.LongFunction;

/**
 * A native handle that cannot dangle. Calls use the address under a read lock, so any number
 * run at once (the library allows that); {@link #close} frees it under the write lock, so it
 * waits for calls in flight, and later calls throw {@link IllegalStateException} instead of
 * passing a freed pointer. A {@link Cleaner} frees a handle nobody closed once it is
 * unreachable.
 */
final class Handle {
    private static final Cleaner CLEANER = Cleaner.create();

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Address address;
    private final Cleaner.Cleanable cleanable;
    private final String what;

    /** Owns {@code address}, released with {@code free}; {@code what} names it in errors. */
    Handle(long address, LongConsumer free, String what) {
        this.address = new Address(address, free);
        this.cleanable = CLEANER.register(this, this.address);
        this.what = what;
    }

    /** Runs {@code call} with the live address; throws if the handle is closed. */
    <T> T apply(LongFunction<T> call) {
        Lock read = lock.readLock();
        read.lock();
        try {
            long live = address.value;
            if (live == 0) {
                throw new IllegalStateException("this " + what + " is closed");
            }
            return call.apply(live);
        } finally {
            read.unlock();
            // The native call only sees the address: keep the cleaner from freeing it meanwhile.
            Reference.reachabilityFence(this);
        }
    }

    /** {@link #apply} for calls without a result. */
    void accept(LongConsumer call) {
        apply(live -> {
            call.accept(live);
            return null;
        });
    }

    /** Waits for calls in flight, then frees the handle; later calls throw. Idempotent. */
    void close() {
        if (lock.getReadHoldCount() > 0) {
            // E.g. a progress listener closing the config it trains with: waiting would deadlock.
            throw new IllegalStateException("this " + what + " is in use on this thread");
        }
        Lock write = lock.writeLock();
        write.lock();
        try {
            cleanable.clean();
        } finally {
            write.unlock();
        }
    }

    /** The cleaning action: holds the address but not the handle, so that one can be collected. */
    private static final class Address implements Runnable {
        private final LongConsumer free;
        private volatile long value;

        Address(long value, LongConsumer free) {
            this.value = value;
            this.free = free;
        }

        /** Runs at most once (Cleanable guarantees it): at close() or when unreachable. */
        @Override
        public void run() {
            long old = value;
            value = 0;
            free.accept(old);
        }
    }
}
