# Reproduction pipeline entry point: `snakemake --cores all figures/fig8.pdf`.
# The figure rules live in workflow/rules/*.smk (added by the pipeline issue);
# until then this file only defines the end-to-end demo target.

configfile: "config/pipeline.yaml"

SCALE = config.get("scale", "mini")


rule demo:
    output:
        f"results/{SCALE}/demo/summary.csv",
    log:
        f"logs/{SCALE}/demo.log",
    shell:
        "vsml demo --scale {SCALE} --out {output} > {log} 2>&1"
