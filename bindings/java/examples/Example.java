import dev.doppel.Config;
import dev.doppel.Doppel;
import dev.doppel.Model;
import java.nio.file.Path;

/**
 * Trains a model on a CSV file, generates synthetic rows from it and says where they went.
 * Usage: {@code java -Ddoppel.library=/abs/libdoppel_jni.so -cp doppel.jar:. Example DATA.csv
 * [OUT.csv]}.
 */
public final class Example {
    private Example() {}

    /**
     * Runs the example.
     *
     * @param args the training CSV, then optionally the output file (synthetic.csv)
     */
    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: Example DATA.csv [OUT.csv]");
            System.exit(2);
        }
        Path data = Path.of(args[0]);
        Path out = Path.of(args.length > 1 ? args[1] : "synthetic.csv").toAbsolutePath();
        long rows = 1000;
        // Two short epochs keep the example quick; drop max_epochs for a better model.
        String json = "{\"training\": {\"max_epochs\": 2}}";
        try (Config config = Config.fromJson(json);
                Model model = Doppel.train(data, config, progress -> {
                    if (progress.step() == progress.stepsPerEpoch()) {
                        System.out.printf("epoch %d: loss %.3f%n", progress.epoch(),
                                progress.loss());
                    }
                    return true;
                })) {
            model.generate(rows, 42, out);
        }
        System.out.printf("doppel %s wrote %d synthetic rows to %s%n", Doppel.version(), rows, out);
    }
}
