// Vite's `?url` imports give the URL of an emitted asset.
declare module '*?url' {
  const url: string;
  export default url;
}
