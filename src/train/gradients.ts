/**
 * `tf.variableGrads` with the memory of a backward pass bounded by what is still needed.
 *
 * tfjs's engine runs the whole backward pass inside one tidy and releases nothing until it ends:
 * every activation gradient, every per-use filter gradient (a generator applied three times in a
 * CycleGAN step has three) and every tensor saved for backprop stays alive to the last node. For
 * two 54M-parameter U-Nets that is several GB, more than the wasm backend's 4 GiB heap. This walks
 * the same tape in the same order with the same gradient functions, so the results are identical,
 * and frees as it goes: a node's output gradients once the node is done, a gradient once it has
 * been added into an accumulated sum, and the node's saved tensors once its gradient has run.
 *
 * It drives the engine through members that are not part of tfjs's public API (the tape and its
 * scopes, unchanged since tfjs 1.x and pinned here at 4.22); `variableGrads.test.ts` checks it
 * against `tf.variableGrads` on every backend the tests run.
 */
import * as tf from '@tensorflow/tfjs';
import { engineInternals, type EngineInternals, type TapeNode } from '../engine/tfjs-internals.ts';

/** The nodes on a path from one of `xs` to `y`, inputs not coming from `xs` pruned (as tfjs does). */
function nodesFromXsToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      for (const output of node.outputs) fromX.add(output.id);
      nodesFromX.add(node.id);
    }
  }
  const leadsToY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((output) => leadsToY.has(output.id))) {
      for (const input of Object.values(node.inputs)) leadsToY.add(input.id);
      nodesToY.add(node.id);
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, input] of Object.entries(node.inputs)) if (fromX.has(input.id)) inputs[name] = input;
    filtered.push({ ...node, inputs });
  }
  return filtered;
}

/** Walks the filtered tape backward from y, freeing what no later node needs (see above). */
function backward(engine: EngineInternals, nodes: TapeNode[], y: tf.Tensor, variables: tf.Variable[]): tf.NamedTensorMap {
  const wanted = new Set(variables.map((v) => v.id));

  return engine.tidy('backward', () => {
    const accumulated = new Map<number, tf.Tensor>();
    // How many slots of `accumulated` hold each tensor: a gradient function may hand back the
    // same tensor for two inputs, and such a tensor is freed only when no slot holds it.
    const holders = new Map<tf.Tensor, number>();
    const hold = (id: number, t: tf.Tensor) => {
      accumulated.set(id, t);
      holders.set(t, (holders.get(t) ?? 0) + 1);
    };
    const release = (id: number) => {
      const t = accumulated.get(id);
      if (!t) return;
      accumulated.delete(id);
      const left = (holders.get(t) ?? 1) - 1;
      if (left > 0) holders.set(t, left);
      else {
        holders.delete(t);
        t.dispose();
      }
    };
    hold(y.id, tf.onesLike(y));

    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i]!;
      const dys = node.outputs.map((o) => accumulated.get(o.id) ?? null);
      if (node.gradient == null) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
      const inputGradients = node.gradient(dys);
      for (const [name, x] of Object.entries(node.inputs)) {
        const gradientOf = inputGradients[name];
        if (!gradientOf) throw new Error(`Cannot backprop through input ${name} of ${node.kernelName}.`);
        const dx = engine.tidy(gradientOf);
        if (dx.dtype !== 'float32') throw new Error(`gradient of ${node.kernelName} input ${name} has dtype ${dx.dtype}`);
        if (!tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(`gradient of ${node.kernelName} input ${name} has shape [${dx.shape}], input has [${x.shape}]`);
        }
        const current = accumulated.get(x.id);
        if (current === undefined) {
          hold(x.id, dx);
        } else {
          const sum = tf.add(current, dx);
          release(x.id);
          if (!holders.has(dx) && !node.outputs.some((o) => accumulated.get(o.id) === dx)) dx.dispose();
          hold(x.id, sum);
        }
      }
      for (const output of node.outputs) if (!wanted.has(output.id)) release(output.id);
      // Saved tensors belong to this node alone (the engine keeps a private clone per node),
      // unless a custom gradient handed one back as a gradient: that one lives on in its slot.
      for (const saved of node.saved ?? []) if (!holders.has(saved)) saved.dispose();
    }
    const byName: tf.NamedTensorMap = {};
    for (const v of variables) {
      const g = accumulated.get(v.id);
      if (g) byName[v.name] = g;
    }
    return byName;
  });
}

/**
 * Gradients of a scalar `f()` with respect to `variables` (all trainable), keyed by variable name
 * like `tf.variableGrads`. The caller owns `value` and the gradients.
 */
export function variableGradsFrugal(f: () => tf.Scalar, variables: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  if (variables.length === 0) throw new Error('variableGradsFrugal needs at least one variable');
  const engine = engineInternals();
  if (engine.state.gradientDepth !== 0) throw new Error('variableGradsFrugal cannot be nested inside another gradient');
  const releaseTape = (keep: Set<tf.Tensor>) => {
    // As tfjs does at the end of a gradient: whatever the tape still holds is released, on
    // failure too (a U-Net step's saved activations are gigabytes).
    for (const node of engine.state.activeTape ?? []) for (const saved of node.saved ?? []) if (!keep.has(saved)) saved.dispose();
    engine.state.activeTape = null;
  };
  let y: tf.Tensor;
  try {
    y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
  } catch (error) {
    // The forward pass failed (out of memory, the case this exists for): tidy freed its
    // intermediates, but the tensors saved for backprop are kept outside it.
    releaseTape(new Set());
    throw error;
  }
  const tape = engine.state.activeTape ?? [];
  let grads: tf.NamedTensorMap = {};
  try {
    if (!(y instanceof tf.Tensor) || y.rank !== 0) {
      throw new Error(`the function passed to variableGradsFrugal must return a scalar, got rank ${(y as tf.Tensor)?.rank}`);
    }
    grads = backward(engine, nodesFromXsToY(tape, variables, y), y, variables);
    if (Object.keys(grads).length === 0) {
      throw new Error('no variable is connected to the value of the function passed to variableGradsFrugal');
    }
  } catch (error) {
    if (y instanceof tf.Tensor) y.dispose();
    throw error;
  } finally {
    releaseTape(new Set(Object.values(grads)));
  }
  return { value: y as tf.Scalar, grads };
}
