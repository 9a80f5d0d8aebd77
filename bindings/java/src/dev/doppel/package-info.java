/**
 * Java bindings for doppel, a synthetic-data engine: train a model on a table, generate
 * synthetic rows, save and load models, compute differential-privacy budgets and build the
 * quality report. A thin layer over libdoppel's C ABI ({@code include/doppel.h}) through a
 * small JNI shim; {@link dev.doppel.Doppel} holds the entry points. Tables also cross as Arrow
 * C streams, by the address of a {@code struct ArrowArrayStream} (e.g. from Arrow Java), through
 * {@link dev.doppel.Doppel#trainArrow(long, dev.doppel.Config)} and
 * {@link dev.doppel.Model#generateArrow}.
 *
 * <p>Every failure of the library surfaces as a {@link dev.doppel.DoppelException} carrying
 * the library's {@link dev.doppel.Status} and message. Handles ({@link dev.doppel.Config},
 * {@link dev.doppel.Model}) are {@link java.lang.AutoCloseable}; using one after
 * {@code close()} throws {@link java.lang.IllegalStateException}.
 */
package dev.doppel;
