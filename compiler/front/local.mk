compiler_libpmmc_a_SOURCES += compiler/front/spec.c compiler/front/yaml_read.c \
	compiler/front/yaml_model.c compiler/front/schedule.c compiler/front/safetensors.c \
	compiler/front/graph_check.c compiler/front/data.c compiler/front/atoms.c
noinst_HEADERS += compiler/front/spec.h compiler/front/weights.h compiler/front/front.h
