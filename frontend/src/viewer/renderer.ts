// WebGL2 renderer of one viewport: a full-screen triangle whose fragment shader maps each screen
// pixel back to image pixels (the inverse of geometry.imageToScreen) and applies
// modality rescale -> window/level -> MONOCHROME1 / user inversion. Window/level is therefore a
// uniform change and one draw, never a re-upload, which is what keeps dragging at display rate.
import { firstLevelWithin, type Level } from "./pyramid";

const VERTEX = `#version 300 es
// One triangle covering the viewport; no vertex buffer needed.
void main() {
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}`;

// Shared tail: window (DICOM linear VOI) and inversion.
const WINDOW_GLSL = `
uniform float uWinCenter;
uniform float uWinWidth;
uniform bool uInvert;
float applyWindow(float m) {
  if (uWinWidth <= 1.0) return m < uWinCenter - 0.5 ? 0.0 : 1.0;
  return clamp((m - (uWinCenter - 0.5)) / (uWinWidth - 1.0) + 0.5, 0.0, 1.0);
}`;

const COMMON_GLSL = `
uniform vec4 uScreenToImage; // image = (frag * xy + zw), frag in device px from the top-left
uniform float uCanvasHeight;
uniform vec2 uImageSize;     // original image size in pixels
out vec4 outColor;
vec2 imagePoint() {
  vec2 frag = vec2(gl_FragCoord.x, uCanvasHeight - gl_FragCoord.y);
  return frag * uScreenToImage.xy + uScreenToImage.zw;
}
bool outside(vec2 p) {
  return p.x < 0.0 || p.y < 0.0 || p.x >= uImageSize.x || p.y >= uImageSize.y;
}`;

// Full depth: 16-bit unsigned integer texture with a pre-averaged pyramid. Integer textures
// cannot be filtered by the GPU, so the shader does bilinear within a level and blends the two
// nearest levels (trilinear); at high zoom it samples level 0, the native pixels.
// `windowed` false gives the resampling pass of the two-pass path: it writes the interpolated
// stored value (or -1 outside the image) into a float texture at canvas resolution.
function fullFragment(windowed: boolean): string {
  return `#version 300 es
precision highp float;
precision highp int;
precision highp usampler2D;
uniform usampler2D uTex;
uniform float uLod;        // log2(image px per device px)
uniform int uMaxLevel;
uniform float uRescaleSlope;
uniform float uRescaleIntercept;
${COMMON_GLSL}
${WINDOW_GLSL}
float texel(ivec2 i, ivec2 size, int level) {
  return float(texelFetch(uTex, clamp(i, ivec2(0), size - 1), level).r);
}
float bilinear(int level, vec2 p) {
  ivec2 size = textureSize(uTex, level);
  vec2 q = p * vec2(size) / uImageSize - 0.5;
  vec2 f = fract(q);
  ivec2 i = ivec2(floor(q));
  float a = mix(texel(i, size, level), texel(i + ivec2(1, 0), size, level), f.x);
  float b = mix(texel(i + ivec2(0, 1), size, level), texel(i + ivec2(1, 1), size, level), f.x);
  return mix(a, b, f.y);
}
void main() {
  vec2 p = imagePoint();
  if (outside(p)) { outColor = ${windowed ? "vec4(0.0, 0.0, 0.0, 1.0)" : "vec4(-1.0)"}; return; }
  float lod = clamp(uLod, 0.0, float(uMaxLevel));
  int l0 = int(floor(lod));
  int l1 = min(l0 + 1, uMaxLevel);
  float stored = mix(bilinear(l0, p), bilinear(l1, p), lod - float(l0));
${windowed ? `  float y = applyWindow(stored * uRescaleSlope + uRescaleIntercept);
  if (uInvert) y = 1.0 - y;
  outColor = vec4(y, y, y, 1.0);` : "  outColor = vec4(stored, 0.0, 0.0, 1.0);"}
}`;
}

// Second pass of the two-pass path: one texel read per pixel and the window. This is all a
// window/level drag redraws, so it stays at display rate even on a software GPU.
const WINDOW_FRAGMENT = `#version 300 es
precision highp float;
uniform highp sampler2D uResampled;
uniform float uRescaleSlope;
uniform float uRescaleIntercept;
${WINDOW_GLSL}
out vec4 outColor;
void main() {
  float stored = texelFetch(uResampled, ivec2(gl_FragCoord.xy), 0).r;
  if (stored < 0.0) { outColor = vec4(0.0, 0.0, 0.0, 1.0); return; }
  float y = applyWindow(stored * uRescaleSlope + uRescaleIntercept);
  if (uInvert) y = 1.0 - y;
  outColor = vec4(y, y, y, 1.0);
}`;

// 8-bit display image (default window already applied): shown until the full depth arrives. To
// let window/level work right away, the 8-bit value is mapped back through the default window to
// an approximate modality value (exact inside the default window, clipped outside it).
const DISPLAY_FRAGMENT = `#version 300 es
precision highp float;
uniform sampler2D uTex;
uniform float uDefaultCenter;
uniform float uDefaultWidth;
uniform bool uStoredInverted; // MONOCHROME1: the display PNG is already inverted
${COMMON_GLSL}
${WINDOW_GLSL}
void main() {
  vec2 p = imagePoint();
  if (outside(p)) { outColor = vec4(0.0, 0.0, 0.0, 1.0); return; }
  float d = texture(uTex, p / uImageSize).r;
  if (uStoredInverted) d = 1.0 - d;
  float m = (uDefaultCenter - 0.5) + (d - 0.5) * max(uDefaultWidth - 1.0, 1.0);
  float y = applyWindow(m);
  if (uInvert) y = 1.0 - y;
  outColor = vec4(y, y, y, 1.0);
}`;

export interface DrawParams {
  /** CSS px -> image px: image = css * scale + offset, per axis (negative x scale = mirrored). */
  screenToImage: { sx: number; ox: number; sy: number; oy: number };
  devicePixelRatio: number;
  imageWidth: number;
  imageHeight: number;
  /** Image pixels per CSS pixel. */
  imagePerCss: number;
  windowCenter: number;
  windowWidth: number;
  /** MONOCHROME1 XOR the user's invert: the final inversion to apply to the windowed value. */
  invertOutput: boolean;
  rescaleSlope: number;
  rescaleIntercept: number;
  defaultCenter: number;
  defaultWidth: number;
  monochrome1: boolean;
}

interface Program {
  program: WebGLProgram;
  uniforms: Map<string, WebGLUniformLocation>;
  /** Compiled and linked without waiting; `use` checks the result on first use. */
  pending: { shaders: WebGLShader[]; uniformNames: string[] } | null;
}

export class Renderer {
  readonly gl: WebGL2RenderingContext;
  readonly maxTextureSize: number;
  private readonly vao: WebGLVertexArrayObject;
  private readonly displayProgram: Program;
  // Compiled when the 16-bit data arrives, not up front: shader compiles are slow on software
  // GL and four viewports compile at once, which would delay the first paint.
  private fullProgram: Program | null = null;
  /** Two-pass path (needs float render targets): resample on view change, window every frame. */
  private resampleProgram: Program | null = null;
  private windowProgram: Program | null = null;
  /** One-pass windowed full-depth program for the magnifier (compiled on its first use). */
  private loupeProgram: Program | null = null;
  private resampled: { texture: WebGLTexture; framebuffer: WebGLFramebuffer; width: number; height: number } | null = null;
  /** What the resampled texture holds; a different key means the resampling pass must rerun. */
  private resampledKey = "";
  private fullGeneration = 0;
  private displayTexture: WebGLTexture | null = null;
  private fullTexture: WebGLTexture | null = null;
  private fullLevels = 0;
  /** Pyramid levels skipped because the image exceeds MAX_TEXTURE_SIZE (0 = native detail). */
  fullBaseLevel = 0;

  constructor(canvas: HTMLCanvasElement) {
    const gl = canvas.getContext("webgl2", {
      alpha: false,
      antialias: false,
      depth: false,
      stencil: false,
      premultipliedAlpha: false,
      preserveDrawingBuffer: false,
      powerPreference: "high-performance",
    });
    if (!gl) throw new Error("WebGL2 is not available in this browser");
    this.gl = gl;
    this.maxTextureSize = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    this.displayProgram = this.link(DISPLAY_FRAGMENT, [
      "uTex", "uDefaultCenter", "uDefaultWidth", "uStoredInverted",
      "uScreenToImage", "uCanvasHeight", "uImageSize", "uWinCenter", "uWinWidth", "uInvert",
    ]);
    const vao = gl.createVertexArray();
    if (!vao) throw new Error("WebGL2 could not create a vertex array");
    this.vao = vao;
  }

  /**
   * Compile and link without asking for the result: every status query is a round trip that
   * waits for the compile (GPU process, ANGLE's compiler threads), so the result is checked on
   * first use (`use`), by when it is usually done.
   */
  private link(fragmentSource: string, uniformNames: string[]): Program {
    const gl = this.gl;
    const compile = (type: number, source: string): WebGLShader => {
      const shader = gl.createShader(type);
      if (!shader) throw new Error("WebGL2 could not create a shader");
      gl.shaderSource(shader, source);
      gl.compileShader(shader);
      return shader;
    };
    const program = gl.createProgram();
    if (!program) throw new Error("WebGL2 could not create a program");
    const shaders = [compile(gl.VERTEX_SHADER, VERTEX), compile(gl.FRAGMENT_SHADER, fragmentSource)];
    for (const shader of shaders) gl.attachShader(program, shader);
    gl.linkProgram(program);
    // Send the commands now: buffered, they would wait for the first status query.
    gl.flush();
    return { program, uniforms: new Map(), pending: { shaders, uniformNames } };
  }

  /** useProgram, after checking the link on the program's first use. */
  private use(prog: Program): void {
    const gl = this.gl;
    const pending = prog.pending;
    if (pending) {
      prog.pending = null;
      if (!gl.getProgramParameter(prog.program, gl.LINK_STATUS) && !gl.isContextLost()) {
        const logs = pending.shaders.map((shader) => gl.getShaderInfoLog(shader) ?? "").join(" ");
        throw new Error(`shader program failed: ${gl.getProgramInfoLog(prog.program) ?? ""} ${logs}`);
      }
      for (const name of pending.uniformNames) {
        const location = gl.getUniformLocation(prog.program, name);
        if (location) prog.uniforms.set(name, location);
      }
    }
    gl.useProgram(prog.program);
  }

  private static readonly FULL_UNIFORMS = [
    "uTex", "uLod", "uMaxLevel", "uRescaleSlope", "uRescaleIntercept",
    "uScreenToImage", "uCanvasHeight", "uImageSize", "uWinCenter", "uWinWidth", "uInvert",
  ];

  /**
   * Start compiling the full-depth programs now (they link in the background: nothing waits
   * here), so that they are ready when the 16-bit data arrives. `uploadFull` does it otherwise.
   */
  prepareFull(): void {
    this.compileFullPrograms();
  }

  private setFullTextureParameters(levels: number): void {
    const gl = this.gl;
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST_MIPMAP_NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_BASE_LEVEL, 0);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAX_LEVEL, levels - 1);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  }

  private compileFullPrograms(): void {
    if (this.fullProgram || this.windowProgram) return;
    const fullUniforms = Renderer.FULL_UNIFORMS;
    if (this.gl.getExtension("EXT_color_buffer_float")) {
      this.resampleProgram = this.link(fullFragment(false), fullUniforms);
      this.windowProgram = this.link(WINDOW_FRAGMENT, [
        "uResampled", "uRescaleSlope", "uRescaleIntercept", "uWinCenter", "uWinWidth", "uInvert",
      ]);
    } else {
      // One pass (resample and window per frame) where float render targets are missing.
      this.fullProgram = this.link(fullFragment(true), fullUniforms);
    }
  }

  get hasFull(): boolean {
    return this.fullTexture !== null;
  }

  get hasDisplay(): boolean {
    return this.displayTexture !== null;
  }

  uploadDisplay(bitmap: ImageBitmap, mipmaps = true): void {
    const gl = this.gl;
    if (this.displayTexture) gl.deleteTexture(this.displayTexture);
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    // `mipmaps` false: the bitmap was decoded at the size it is shown at, so it is not minified
    // (building mipmaps is slow on a software rasteriser).
    if (mipmaps) gl.generateMipmap(gl.TEXTURE_2D);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, mipmaps ? gl.LINEAR_MIPMAP_LINEAR : gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    this.displayTexture = texture;
  }

  /**
   * Upload the 16-bit pyramid. Levels larger than MAX_TEXTURE_SIZE are skipped (the image is then
   * shown downsampled by 2^fullBaseLevel: a note the viewport exposes), which only happens for
   * images beyond 8k-16k px on one side depending on the GPU.
   */
  uploadFull(levels: readonly Level[], downsample = 0): void {
    const gl = this.gl;
    if (this.fullTexture) gl.deleteTexture(this.fullTexture);
    const base = firstLevelWithin(levels, this.maxTextureSize);
    const used = levels.slice(base);
    const first = used[0];
    if (!first) throw new Error("no pixel data");
    this.compileFullPrograms();
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texStorage2D(gl.TEXTURE_2D, used.length, gl.R16UI, first.width, first.height);
    used.forEach((level, i) => {
      gl.texSubImage2D(gl.TEXTURE_2D, i, 0, 0, level.width, level.height, gl.RED_INTEGER, gl.UNSIGNED_SHORT, level.data);
    });
    this.setFullTextureParameters(used.length);
    this.fullTexture = texture;
    this.fullGeneration++;
    this.fullLevels = used.length;
    // `downsample`: the levels start that many halvings below the original image (the reduced
    // full-depth PNG); the level choice (uLod) counts from the original's pixels either way.
    this.fullBaseLevel = base + downsample;
    // The 8-bit preview is no longer needed: free its GPU memory.
    if (this.displayTexture) {
      gl.deleteTexture(this.displayTexture);
      this.displayTexture = null;
    }
  }

  clearImages(): void {
    const gl = this.gl;
    if (this.displayTexture) gl.deleteTexture(this.displayTexture);
    if (this.fullTexture) gl.deleteTexture(this.fullTexture);
    this.displayTexture = null;
    this.fullTexture = null;
    this.fullLevels = 0;
    this.fullBaseLevel = 0;
    this.resampledKey = "";
  }

  resize(width: number, height: number): void {
    const canvas = this.gl.canvas as HTMLCanvasElement;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
  }

  draw(p: DrawParams): void {
    const gl = this.gl;
    const canvas = gl.canvas as HTMLCanvasElement;
    gl.viewport(0, 0, canvas.width, canvas.height);
    if (this.fullTexture && this.resampleProgram && this.windowProgram) {
      this.drawTwoPass(p, this.fullTexture, this.resampleProgram, this.windowProgram);
      return;
    }
    const useFull = this.fullTexture !== null && this.fullProgram !== null;
    const texture = useFull ? this.fullTexture : this.displayTexture;
    const prog = useFull ? this.fullProgram : this.displayProgram;
    if (!texture || !prog) {
      gl.clearColor(0, 0, 0, 1);
      gl.clear(gl.COLOR_BUFFER_BIT);
      return;
    }
    this.drawOnePass(prog, p, texture, useFull);
  }

  /**
   * One pass straight from an image texture: the one-pass full-depth shader (resample + window)
   * when `full`, else the 8-bit display shader. Used by `draw` and by the magnifier.
   */
  private drawOnePass(prog: Program, p: DrawParams, texture: WebGLTexture, full: boolean): void {
    const gl = this.gl;
    this.setImageUniforms(prog, p, texture);
    if (full) {
      this.setFullUniforms(prog, p);
    } else {
      const u = (name: string): WebGLUniformLocation | null => prog.uniforms.get(name) ?? null;
      gl.uniform1f(u("uDefaultCenter"), p.defaultCenter);
      gl.uniform1f(u("uDefaultWidth"), p.defaultWidth);
      gl.uniform1i(u("uStoredInverted"), p.monochrome1 ? 1 : 0);
    }
    gl.bindVertexArray(this.vao);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  }

  /**
   * The magnifier: after `draw`, redraw the square `rect` (device px, from the top-left) with
   * its own magnified map `p`, straight from the 16-bit texture (one pass: resample + window,
   * only over the loupe's pixels) or, until the full depth has arrived, from the 8-bit display
   * image. Returns which data it showed.
   */
  drawLoupe(p: DrawParams, rect: { x: number; y: number; width: number; height: number }): "full" | "display" | null {
    const gl = this.gl;
    const canvas = gl.canvas as HTMLCanvasElement;
    const full = this.fullTexture;
    if (full && !this.loupeProgram) {
      this.loupeProgram = this.fullProgram ?? this.link(fullFragment(true), Renderer.FULL_UNIFORMS);
    }
    const prog = full ? this.loupeProgram : this.displayProgram;
    const texture = full ?? this.displayTexture;
    if (!prog || !texture) return null;
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.enable(gl.SCISSOR_TEST);
    gl.scissor(rect.x, canvas.height - rect.y - rect.height, rect.width, rect.height);
    this.drawOnePass(prog, p, texture, full !== null);
    gl.disable(gl.SCISSOR_TEST);
    return full ? "full" : "display";
  }

  /** Common uniforms of the programs that map screen pixels to image pixels. */
  private setImageUniforms(prog: Program, p: DrawParams, texture: WebGLTexture): void {
    const gl = this.gl;
    const canvas = gl.canvas as HTMLCanvasElement;
    this.use(prog);
    const u = (name: string): WebGLUniformLocation | null => prog.uniforms.get(name) ?? null;
    // Device px -> CSS px is a division by dpr; fold it into the affine map.
    const dpr = p.devicePixelRatio;
    const m = p.screenToImage;
    gl.uniform4f(u("uScreenToImage"), m.sx / dpr, m.sy / dpr, m.ox, m.oy);
    gl.uniform1f(u("uCanvasHeight"), canvas.height);
    gl.uniform2f(u("uImageSize"), p.imageWidth, p.imageHeight);
    gl.uniform1f(u("uWinCenter"), p.windowCenter);
    gl.uniform1f(u("uWinWidth"), p.windowWidth);
    gl.uniform1i(u("uInvert"), p.invertOutput ? 1 : 0);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.uniform1i(u("uTex"), 0);
  }

  private setFullUniforms(prog: Program, p: DrawParams): void {
    const gl = this.gl;
    const u = (name: string): WebGLUniformLocation | null => prog.uniforms.get(name) ?? null;
    // log2 of (base-level texels per device px); skipped levels already shrink the texels.
    const texelsPerDevicePx = p.imagePerCss / p.devicePixelRatio / 2 ** this.fullBaseLevel;
    gl.uniform1f(u("uLod"), Math.log2(Math.max(texelsPerDevicePx, 1e-6)));
    gl.uniform1i(u("uMaxLevel"), this.fullLevels - 1);
    gl.uniform1f(u("uRescaleSlope"), p.rescaleSlope);
    gl.uniform1f(u("uRescaleIntercept"), p.rescaleIntercept);
  }

  private drawTwoPass(p: DrawParams, full: WebGLTexture, resampleProgram: Program, windowProgram: Program): void {
    const gl = this.gl;
    const canvas = gl.canvas as HTMLCanvasElement;
    const width = canvas.width;
    const height = canvas.height;
    let target = this.resampled;
    if (!target || target.width !== width || target.height !== height) {
      target = this.allocateResampled(width, height);
    }
    const key = JSON.stringify([p.screenToImage, p.devicePixelRatio, p.imagePerCss, width, height, this.fullGeneration]);
    gl.bindVertexArray(this.vao);
    if (key !== this.resampledKey) {
      gl.bindFramebuffer(gl.FRAMEBUFFER, target.framebuffer);
      this.setImageUniforms(resampleProgram, p, full);
      this.setFullUniforms(resampleProgram, p);
      gl.drawArrays(gl.TRIANGLES, 0, 3);
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      this.resampledKey = key;
    }
    this.drawWindowPass(windowProgram, p, target.texture);
  }

  /** Pass 2 of the two-pass path: the window over the resampled values, to the canvas. */
  private drawWindowPass(windowProgram: Program, p: DrawParams, resampled: WebGLTexture): void {
    const gl = this.gl;
    this.use(windowProgram);
    const u = (name: string): WebGLUniformLocation | null => windowProgram.uniforms.get(name) ?? null;
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, resampled);
    gl.uniform1i(u("uResampled"), 0);
    gl.uniform1f(u("uRescaleSlope"), p.rescaleSlope);
    gl.uniform1f(u("uRescaleIntercept"), p.rescaleIntercept);
    gl.uniform1f(u("uWinCenter"), p.windowCenter);
    gl.uniform1f(u("uWinWidth"), p.windowWidth);
    gl.uniform1i(u("uInvert"), p.invertOutput ? 1 : 0);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  }

  private allocateResampled(width: number, height: number): NonNullable<Renderer["resampled"]> {
    const gl = this.gl;
    this.freeResampled();
    const texture = gl.createTexture();
    const framebuffer = gl.createFramebuffer();
    if (!texture || !framebuffer) throw new Error("WebGL2 could not allocate the resampling target");
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texStorage2D(gl.TEXTURE_2D, 1, gl.R32F, width, height);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    this.resampled = { texture, framebuffer, width, height };
    this.resampledKey = "";
    return this.resampled;
  }

  private freeResampled(): void {
    if (!this.resampled) return;
    this.gl.deleteTexture(this.resampled.texture);
    this.gl.deleteFramebuffer(this.resampled.framebuffer);
    this.resampled = null;
  }

  destroy(): void {
    this.clearImages();
    this.freeResampled();
    // Release the context now: Chromium caps live WebGL contexts and warns on the console when a
    // reading session opens exam after exam.
    this.gl.getExtension("WEBGL_lose_context")?.loseContext();
  }
}
